"""The user service's problem types (RFC 9457, see kommerce.http.errors)."""

from __future__ import annotations

from kommerce.http.errors import Problem


class InvalidCredentialsProblem(Problem):
    status, slug, title = 401, "invalid-credentials", "Sign-in failed"


class InvalidLinkToken(Problem):
    status, slug, title = 400, "invalid-link-token", "The link is invalid"


class InvalidRefreshToken(Problem):
    status, slug, title = 401, "invalid-refresh-token", "The refresh token was refused"


class PasswordRejected(Problem):
    status, slug, title = 422, "password-rejected", "The password does not meet the policy"


class InvalidEmail(Problem):
    status, slug, title = 422, "invalid-email", "Not a valid email address"


class AccountLocked(Problem):
    status, slug, title = 429, "too-many-failures", "Too many failed sign-ins"


class AccountDisabled(Problem):
    status, slug, title = 403, "account-disabled", "This account is disabled"


class InvalidCode(Problem):
    status, slug, title = 401, "invalid-code", "The code was refused"


class MfaState(Problem):
    status, slug, title = 409, "mfa-state", "Two-factor authentication is not in that state"
