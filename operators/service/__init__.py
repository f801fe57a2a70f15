"""The `Service` operator: a declared service becomes a running, wired workload."""
