"""kommerce.io/v1alpha1 resource models."""
