"""The inventory service's HTTP routes."""
