"""The `Secret` operator: core Secrets kept in sync with OpenBao."""
