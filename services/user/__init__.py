"""The user service: accounts, tokens, sign-in with Google/GitHub/Facebook, MFA, roles,
sessions, profiles, the audit log and abuse protection (docs/user-service.md)."""
