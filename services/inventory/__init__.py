"""Inventory service: stock per variant per warehouse, reservations, allocation, purchasing."""
