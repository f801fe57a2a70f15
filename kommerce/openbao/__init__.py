"""OpenBao (Vault API) access for the platform: authentication, and the one-time bootstrap."""
