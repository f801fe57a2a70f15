"""Native process supervision for the local stack and the local Kubernetes control plane."""
