"""The `Policy` operator: Rego tests, OPA loading, the admission webhook and the audit."""
