"""The order service's HTTP routes (one module per area)."""
