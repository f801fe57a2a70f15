"""Authentication and authorization every service shares: access-token claims, roles and
permissions, the JWKS key cache and the FastAPI dependency that checks a request from its token
alone (no call to the user service per request)."""
