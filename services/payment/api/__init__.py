"""The payment service's HTTP API, one router per area."""
