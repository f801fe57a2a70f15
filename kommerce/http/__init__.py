"""The HTTP side of every service: app factory, problem+json errors, health and middleware."""
