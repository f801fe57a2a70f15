"""Access tokens for testing services other than the user service.

`TokenMinter` signs tokens exactly as the user service does (EdDSA, `typ: at+jwt`, the same
claims) with a key of its own, and gives the service under test an `Authenticator` that trusts
that key: `create_app(settings, auth=minter.authenticator())`, then
`headers=minter.bearer(roles=["merchant"])`.
"""

from __future__ import annotations

import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kommerce.auth.claims import ACCESS_TOKEN_TYPE, ALGORITHM, access_claims
from kommerce.auth.dependency import Authenticator
from kommerce.auth.keys import StaticKeys, public_jwk
from kommerce.auth.verifier import TokenVerifier

ISSUER = "http://user.test"
AUDIENCE = "kommerce"


class TokenMinter:
    def __init__(self) -> None:
        self.kid = uuid.uuid4().hex
        self.key = Ed25519PrivateKey.generate()

    def jwks(self) -> dict[str, Any]:
        """The JWKS document a process verifying these tokens fetches (serve it over HTTP)."""
        return {"keys": [public_jwk(self.kid, self.key)]}

    def authenticator(self) -> Authenticator:
        keys = StaticKeys(self.jwks())
        return Authenticator(TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE))

    def token(
        self, *, roles: list[str], user_id: str | None = None, lifetime_seconds: int = 300
    ) -> str:
        claims = access_claims(
            issuer=ISSUER,
            audience=AUDIENCE,
            user_id=user_id or str(uuid.uuid4()),
            session_id=uuid.uuid4().hex,
            roles=roles,
            amr=["pwd"],
            lifetime_seconds=lifetime_seconds,
        )
        return jwt.encode(
            claims,
            self.key,
            algorithm=ALGORITHM,
            headers={"kid": self.kid, "typ": ACCESS_TOKEN_TYPE},
        )

    def bearer(self, *, roles: list[str], user_id: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(roles=roles, user_id=user_id)}"}
