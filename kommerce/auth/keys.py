"""Where verification keys come from: a JWKS URL (every service) or a local set (the issuer).

`JwksKeys` fetches the user service's `/.well-known/jwks.json` once, keeps it for the response's
`Cache-Control: max-age` (bounded), and fetches again when a token names a key id it has not
seen (a rotation) — at most once per `refetch_cooldown`, so garbage key ids cannot make it hammer
the issuer. When the issuer is unreachable it keeps verifying with the keys it has (stale-if-
error) and says so in the log; only an unknown key id then fails.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kommerce.auth.claims import ALGORITHM, InvalidToken

log = logging.getLogger("kommerce.auth")
_MAX_AGE = re.compile(r"max-age=(\d+)")


class KeySource(Protocol):
    def cached(self, kid: str) -> jwt.PyJWK | None: ...

    async def get(self, kid: str) -> jwt.PyJWK: ...


def public_jwk(kid: str, key: Ed25519PrivateKey) -> dict[str, Any]:
    """The JWKS entry for an Ed25519 signing key (what the user service publishes)."""
    jwk: dict[str, Any] = jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "use": "sig", "alg": ALGORITHM}


class KeysUnavailable(InvalidToken):
    """The issuer's keys cannot be fetched and none are known: the server's problem (503)."""


def parse_jwks(document: object, *, algorithm: str | None = ALGORITHM) -> dict[str, jwt.PyJWK]:
    """kid -> key for the signing keys in a JWKS document (keys we cannot use are skipped).

    `algorithm` pins every key to one algorithm (ours: EdDSA); None takes each key's `alg`
    (other issuers, e.g. Google's RS256 keys)."""
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document (an object with a keys list)")
    keys: dict[str, jwt.PyJWK] = {}
    for entry in document["keys"]:
        if not isinstance(entry, Mapping):
            continue
        kid = entry.get("kid")
        if not kid or entry.get("use", "sig") != "sig":
            continue
        try:
            keys[kid] = jwt.PyJWK(dict(entry), algorithm=algorithm)
        except jwt.PyJWKError as exc:
            log.warning("skipping JWKS key", extra={"kid": kid, "error": str(exc)})
    return keys


class StaticKeys:
    """A fixed key set (the issuer verifies its own tokens with its current JWKS)."""

    def __init__(self, jwks: Mapping[str, Any] | Iterable[tuple[str, jwt.PyJWK]]) -> None:
        self.replace(jwks)

    def replace(self, jwks: Mapping[str, Any] | Iterable[tuple[str, jwt.PyJWK]]) -> None:
        self.keys = parse_jwks(jwks) if isinstance(jwks, Mapping) else dict(jwks)

    def cached(self, kid: str) -> jwt.PyJWK | None:
        return self.keys.get(kid)

    async def get(self, kid: str) -> jwt.PyJWK:
        key = self.keys.get(kid)
        if key is None:
            raise InvalidToken(f"unknown signing key {kid!r}")
        return key


class JwksKeys:
    def __init__(
        self,
        url: str,
        *,
        client: httpx.AsyncClient | None = None,
        default_max_age: float = 300.0,
        longest_max_age: float = 3600.0,
        refetch_cooldown: float = 10.0,
        timeout: float = 3.0,
        algorithm: str | None = ALGORITHM,
    ) -> None:
        self.url = url
        self.algorithm = algorithm
        self._client = client or httpx.AsyncClient(timeout=timeout)
        self._owns_client = client is None
        self._default_max_age = default_max_age
        self._longest_max_age = longest_max_age
        self._cooldown = refetch_cooldown
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fresh_until = 0.0
        self._last_fetch = float("-inf")
        self._last_error = ""
        self._lock = asyncio.Lock()
        self.fetches = 0

    def cached(self, kid: str) -> jwt.PyJWK | None:
        if time.monotonic() >= self._fresh_until:
            return None
        return self._keys.get(kid)

    async def get(self, kid: str) -> jwt.PyJWK:
        key = self.cached(kid)
        if key is not None:
            return key
        async with self._lock:
            stale = time.monotonic() >= self._fresh_until
            unknown = kid not in self._keys
            cooled = time.monotonic() - self._last_fetch >= self._cooldown
            if not self._keys and self._last_error and not cooled:  # no hammering while down
                raise KeysUnavailable(
                    f"cannot fetch signing keys from {self.url}: {self._last_error} "
                    f"(retrying at most every {self._cooldown:g} s)"
                )
            if stale or (unknown and cooled):
                await self._fetch()
        key = self._keys.get(kid)
        if key is None:
            raise InvalidToken(f"unknown signing key {kid!r}")
        return key

    async def _fetch(self) -> None:
        self._last_fetch = time.monotonic()
        try:
            response = await self._client.get(self.url, headers={"Accept": "application/json"})
            response.raise_for_status()
            keys = parse_jwks(response.json(), algorithm=self.algorithm)
        except (httpx.HTTPError, ValueError) as exc:
            self._last_error = str(exc) or type(exc).__name__
            if not self._keys:
                raise KeysUnavailable(f"cannot fetch signing keys from {self.url}: {exc}") from exc
            log.warning(
                "JWKS fetch failed; verifying with the keys already known",
                extra={"url": self.url, "error": str(exc)},
            )
            self._fresh_until = time.monotonic() + self._cooldown
            return
        self.fetches += 1
        self._last_error = ""
        self._keys = keys
        self._fresh_until = time.monotonic() + self._max_age(response.headers)

    def _max_age(self, headers: httpx.Headers) -> float:
        match = _MAX_AGE.search(headers.get("cache-control", ""))
        age = float(match.group(1)) if match else self._default_max_age
        return min(age, self._longest_max_age)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
