"""Verify an access token from the token alone: signature, type, issuer, audience, lifetime."""

from __future__ import annotations

from collections.abc import Sequence

import jwt

from kommerce.auth.claims import (
    ACCESS_TOKEN_TYPE,
    ALGORITHM,
    REQUIRED_CLAIMS,
    InvalidToken,
    Principal,
)
from kommerce.auth.keys import KeySource


class TokenVerifier:
    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str | Sequence[str],
        leeway_seconds: float = 30.0,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway_seconds

    async def verify(self, token: str) -> Principal:
        kid = self._kid(token)
        key = self.keys.cached(kid) or await self.keys.get(kid)
        return self._decode(token, key)

    def verify_cached(self, token: str) -> Principal:
        """Synchronous verification when the key is already cached (benchmarks, hot paths)."""
        kid = self._kid(token)
        key = self.keys.cached(kid)
        if key is None:
            raise InvalidToken(f"signing key {kid!r} is not cached")
        return self._decode(token, key)

    @staticmethod
    def _kid(token: str) -> str:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as exc:
            raise InvalidToken(f"malformed token: {exc}") from exc
        if header.get("alg") != ALGORITHM:
            raise InvalidToken(f"unexpected algorithm {header.get('alg')!r}")
        if header.get("typ") not in (ACCESS_TOKEN_TYPE, "application/" + ACCESS_TOKEN_TYPE):
            raise InvalidToken("not an access token (typ must be at+jwt)")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("the token names no signing key (kid)")
        return kid

    def _decode(self, token: str, key: jwt.PyJWK) -> Principal:
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("the token has expired") from exc
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(f"invalid token: {exc}") from exc
        return Principal.from_claims(claims)
