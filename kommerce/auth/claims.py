"""The claims of a Kommerce access token and how they are checked (RFC 9068 profile).

Access tokens are JWTs signed with Ed25519 (`alg: EdDSA`), header `typ: at+jwt`, with
`iss`, `aud`, `sub` (user id), `exp`/`iat`/`nbf`, `jti`, `sid` (the session, i.e. refresh token
family), `roles`, `amr` (how the user authenticated: pwd, otp, oauth, recovery) and `auth_time`.
A step-up token is an ordinary access token whose `auth_time` is recent; sensitive actions
check that (see `Principal.authenticated_within`).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from kommerce.auth.roles import Role, parse_roles, permissions_of

ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105  # nosec B105: a JOSE type, not a secret
ALGORITHM = "EdDSA"
REQUIRED_CLAIMS = ("iss", "aud", "sub", "exp", "iat", "jti", "sid", "roles")


def access_claims(
    *,
    issuer: str,
    audience: str,
    user_id: str,
    session_id: str,
    roles: list[str],
    amr: list[str],
    lifetime_seconds: int,
    auth_time: int | None = None,
    now: int | None = None,
) -> dict[str, Any]:
    """The claims of an access token, as the user service issues them."""
    issued = int(time.time()) if now is None else now
    return {
        "iss": issuer,
        "aud": audience,
        "sub": user_id,
        "iat": issued,
        "nbf": issued,
        "exp": issued + lifetime_seconds,
        "jti": uuid.uuid4().hex,
        "sid": session_id,
        "roles": roles,
        "amr": amr,
        "auth_time": issued if auth_time is None else auth_time,
    }


class InvalidToken(Exception):
    """The token is missing, malformed, expired, not ours or badly signed (401)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling, as the access token says."""

    user_id: str
    session_id: str
    roles: frozenset[Role]
    permissions: frozenset[str]
    amr: tuple[str, ...] = ()
    auth_time: int = 0
    token_id: str = ""
    expires_at: int = 0
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    def authenticated_within(self, seconds: float, *, now: float | None = None) -> bool:
        return (now if now is not None else time.time()) - self.auth_time <= seconds

    @property
    def used_mfa(self) -> bool:
        return "otp" in self.amr or "recovery" in self.amr

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> Principal:
        roles_claim = claims.get("roles")
        if not isinstance(roles_claim, list) or not all(isinstance(r, str) for r in roles_claim):
            raise InvalidToken("the roles claim must be a list of strings")
        roles = parse_roles(roles_claim)
        amr = claims.get("amr", [])
        if not isinstance(amr, list):
            raise InvalidToken("the amr claim must be a list")
        return cls(
            user_id=str(claims["sub"]),
            session_id=str(claims["sid"]),
            roles=roles,
            permissions=permissions_of(roles),
            amr=tuple(str(a) for a in amr),
            auth_time=int(claims.get("auth_time", claims["iat"])),
            token_id=str(claims["jti"]),
            expires_at=int(claims["exp"]),
            claims=claims,
        )
