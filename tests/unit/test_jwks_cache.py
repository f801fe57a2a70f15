"""`JwksKeys` against a real HTTP server on 127.0.0.1: caching, rotation, cooldown, max-age,
stale-if-error. The server is an aiohttp app serving a JWKS the test controls and counting the
requests it gets (that count, not the client's, is what the assertions are about)."""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kommerce.auth.claims import InvalidToken, access_claims
from kommerce.auth.keys import JwksKeys, public_jwk
from kommerce.auth.verifier import TokenVerifier

pytestmark = pytest.mark.unit

ISSUER = "https://user.kommerce.test"
AUDIENCE = "kommerce"


class Issuer:
    """Signing keys plus a real JWKS endpoint serving their public halves."""

    def __init__(self) -> None:
        self.keys: dict[str, Ed25519PrivateKey] = {}
        self.max_age: int | None = 300
        self.status = 200
        self.requests = 0
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/.well-known/jwks.json"
        self._runner: web.AppRunner | None = None

    def new_key(self) -> str:
        kid = f"20261127-{uuid.uuid4().hex[:12]}"
        self.keys[kid] = Ed25519PrivateKey.generate()
        return kid

    def jwks(self) -> dict[str, Any]:
        return {"keys": [public_jwk(kid, key) for kid, key in self.keys.items()]}

    def token(self, kid: str, **claims: Any) -> str:
        payload = access_claims(
            issuer=ISSUER,
            audience=AUDIENCE,
            user_id=str(uuid.uuid4()),
            session_id=uuid.uuid4().hex,
            roles=["shopper"],
            amr=["pwd"],
            lifetime_seconds=900,
        )
        payload.update(claims)
        key = self.keys.get(kid) or Ed25519PrivateKey.generate()
        return jwt.encode(payload, key, algorithm="EdDSA", headers={"kid": kid, "typ": "at+jwt"})

    async def _serve(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.status != 200:
            return web.Response(status=self.status, text="unavailable")
        headers = {} if self.max_age is None else {"Cache-Control": f"max-age={self.max_age}"}
        return web.json_response(self.jwks(), headers=headers)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/.well-known/jwks.json", self._serve)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def issuer() -> AsyncIterator[Issuer]:
    server = Issuer()
    server.new_key()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def make_keys() -> AsyncIterator[Any]:
    made: list[JwksKeys] = []

    def make(url: str, **options: Any) -> JwksKeys:
        keys = JwksKeys(url, **options)
        made.append(keys)
        return keys

    yield make
    for keys in made:
        await keys.aclose()


def verifier_for(keys: JwksKeys) -> TokenVerifier:
    return TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE)


async def test_fetched_once_for_many_verifications(issuer: Issuer, make_keys: Any) -> None:
    kid = next(iter(issuer.keys))
    second = issuer.new_key()
    keys = make_keys(issuer.url)
    verifier = verifier_for(keys)
    tokens = [issuer.token(kid) for _ in range(50)] + [issuer.token(second) for _ in range(50)]

    assert issuer.requests == 0  # nothing is fetched before the first token arrives
    for _ in range(10):
        for token in tokens:
            assert (await verifier.verify(token)).can("profile:own")
    assert all(verifier.verify_cached(t) for t in tokens)
    await asyncio.gather(*(verifier.verify(t) for t in tokens))

    assert issuer.requests == 1
    assert keys.fetches == 1


async def test_concurrent_first_verifications_fetch_once(issuer: Issuer, make_keys: Any) -> None:
    kid = next(iter(issuer.keys))
    verifier = verifier_for(make_keys(issuer.url))
    principals = await asyncio.gather(*(verifier.verify(issuer.token(kid)) for _ in range(100)))
    assert len({p.token_id for p in principals}) == 100
    assert issuer.requests == 1


async def test_unknown_kid_refetches_once_then_cooldown(issuer: Issuer, make_keys: Any) -> None:
    old = next(iter(issuer.keys))
    keys = make_keys(issuer.url, refetch_cooldown=1.0)
    verifier = verifier_for(keys)
    await verifier.verify(issuer.token(old))
    assert issuer.requests == 1

    await asyncio.sleep(1.1)  # past the cooldown of the first fetch
    rotated = issuer.new_key()  # the issuer rotates: its JWKS now has both keys
    principals = await asyncio.gather(*(verifier.verify(issuer.token(rotated)) for _ in range(20)))
    assert len(principals) == 20
    assert issuer.requests == 2  # one refetch picked the new key up, for all 20
    assert await verifier.verify(issuer.token(old))  # the old key still verifies

    # Garbage key ids within the cooldown: refused without asking the issuer again.
    for _ in range(50):
        with pytest.raises(InvalidToken, match="unknown signing key"):
            await verifier.verify(issuer.token(f"bogus-{uuid.uuid4().hex}"))
    results = await asyncio.gather(
        *(verifier.verify(issuer.token(f"bogus-{i}")) for i in range(50)), return_exceptions=True
    )
    assert all(isinstance(r, InvalidToken) for r in results)
    assert issuer.requests == 2

    await asyncio.sleep(1.1)  # after the cooldown, one more unknown kid may ask once more
    with pytest.raises(InvalidToken, match="unknown signing key"):
        await verifier.verify(issuer.token("bogus-after-cooldown"))
    assert issuer.requests == 3


async def test_rotation_within_cooldown_is_seen_after_it(issuer: Issuer, make_keys: Any) -> None:
    old = next(iter(issuer.keys))
    verifier = verifier_for(make_keys(issuer.url, refetch_cooldown=0.4))
    await verifier.verify(issuer.token(old))
    rotated = issuer.new_key()
    with pytest.raises(InvalidToken, match="unknown signing key"):
        await verifier.verify(issuer.token(rotated))  # too soon after the last fetch
    assert issuer.requests == 1
    await asyncio.sleep(0.5)
    assert await verifier.verify(issuer.token(rotated))
    assert issuer.requests == 2


async def test_max_age_expiry_refetches(issuer: Issuer, make_keys: Any) -> None:
    kid = next(iter(issuer.keys))
    issuer.max_age = 1
    keys = make_keys(issuer.url, refetch_cooldown=60)
    verifier = verifier_for(keys)
    token = issuer.token(kid)
    await verifier.verify(token)
    await verifier.verify(token)
    assert issuer.requests == 1
    assert keys.cached(kid) is not None

    await asyncio.sleep(1.1)
    assert keys.cached(kid) is None  # stale: the synchronous path no longer uses it
    with pytest.raises(InvalidToken, match="not cached"):
        verifier.verify_cached(token)
    await verifier.verify(token)
    assert issuer.requests == 2
    assert verifier.verify_cached(token)

    # A removed key disappears with the refetch after expiry.
    del issuer.keys[kid]
    replacement = issuer.new_key()
    await asyncio.sleep(1.1)
    assert await verifier.verify(issuer.token(replacement))
    assert issuer.requests == 3
    with pytest.raises(InvalidToken, match="unknown signing key"):
        await verifier.verify(token)


async def test_max_age_is_bounded_and_defaulted(issuer: Issuer, make_keys: Any) -> None:
    kid = next(iter(issuer.keys))
    token = issuer.token(kid)
    issuer.max_age = 86_400
    bounded = verifier_for(make_keys(issuer.url, longest_max_age=0.5))
    await bounded.verify(token)
    await asyncio.sleep(0.6)
    await bounded.verify(token)
    assert issuer.requests == 2

    issuer.max_age = None  # no Cache-Control: the default applies
    defaulted = verifier_for(make_keys(issuer.url, default_max_age=0.5))
    await defaulted.verify(token)
    await defaulted.verify(token)
    assert issuer.requests == 3
    await asyncio.sleep(0.6)
    await defaulted.verify(token)
    assert issuer.requests == 4


async def test_issuer_down_keeps_verifying_known_keys(
    issuer: Issuer, make_keys: Any, caplog: pytest.LogCaptureFixture
) -> None:
    kid = next(iter(issuer.keys))
    issuer.max_age = 1
    keys = make_keys(issuer.url, refetch_cooldown=0.5, timeout=1.0)
    verifier = verifier_for(keys)
    await verifier.verify(issuer.token(kid))
    assert issuer.requests == 1

    await issuer.stop()  # connection refused from now on
    await asyncio.sleep(1.1)  # the JWKS is past its max-age
    with caplog.at_level(logging.WARNING, logger="kommerce.auth"):
        principal = await verifier.verify(issuer.token(kid))
    assert principal.can("profile:own")
    assert "JWKS fetch failed" in caplog.text
    # Within the cooldown the stale keys serve the synchronous path too, without retrying.
    assert verifier.verify_cached(issuer.token(kid))
    for _ in range(20):
        await verifier.verify(issuer.token(kid))
    with pytest.raises(InvalidToken, match="unknown signing key"):
        await verifier.verify(issuer.token("never-published"))

    # An issuer answering 503 is the same as one that is down.
    await issuer.start()
    issuer.status = 503
    await asyncio.sleep(0.6)
    assert await verifier.verify(issuer.token(kid))
    assert issuer.requests == 2

    # Back: the next fetch after the cooldown refreshes the set.
    issuer.status = 200
    rotated = issuer.new_key()
    await asyncio.sleep(0.6)
    assert await verifier.verify(issuer.token(rotated))
    assert issuer.requests == 3
    assert keys.fetches == 2


async def test_no_keys_at_all_is_invalid_token_with_clear_message(make_keys: Any) -> None:
    down = Issuer()  # never started: nothing listens on its port
    down.new_key()
    kid = next(iter(down.keys))
    verifier = verifier_for(make_keys(down.url, timeout=1.0, refetch_cooldown=0.5))
    with pytest.raises(InvalidToken) as caught:
        await verifier.verify(down.token(kid))
    assert str(caught.value).startswith(f"cannot fetch signing keys from {down.url}: ")
    with pytest.raises(InvalidToken, match="not cached"):
        verifier.verify_cached(down.token(kid))

    # The issuer comes up: requests within the cooldown still fail fast, without a fetch.
    await down.start()
    try:
        for _ in range(20):
            with pytest.raises(InvalidToken, match=r"cannot fetch .* at most every 0.5 s"):
                await verifier.verify(down.token(f"garbage-{uuid.uuid4().hex}"))
        assert down.requests == 0
        await asyncio.sleep(0.6)
        assert await verifier.verify(down.token(kid))
        assert down.requests == 1
    finally:
        await down.stop()


@pytest.mark.parametrize("status", [500, 404])
async def test_error_status_with_no_keys_is_invalid_token(
    issuer: Issuer, make_keys: Any, status: int
) -> None:
    kid = next(iter(issuer.keys))
    issuer.status = status
    verifier = verifier_for(make_keys(issuer.url, refetch_cooldown=0.5))
    with pytest.raises(InvalidToken, match=f"cannot fetch signing keys from .*{status}"):
        await verifier.verify(issuer.token(kid))
    # A failing issuer is asked at most once per cooldown, whatever the tokens say.
    results = await asyncio.gather(
        *(verifier.verify(issuer.token(f"kid-{i}")) for i in range(50)), return_exceptions=True
    )
    assert all(isinstance(r, InvalidToken) and str(status) in str(r) for r in results)
    assert issuer.requests == 1

    issuer.status = 200
    await asyncio.sleep(0.6)
    assert await verifier.verify(issuer.token(kid))
    assert issuer.requests == 2
