"""Kopf operators reconciling the kommerce.io custom resources (one package per resource)."""
