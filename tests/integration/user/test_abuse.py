"""Rate limits per IP and per account, progressive lockout, and no account enumeration."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from services.user.settings import UserSettings
from tests.integration.user.conftest import (
    PASSWORD,
    Mailbox,
    new_email,
    register_verified,
    start,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def strict(user_settings: UserSettings) -> AsyncIterator[tuple[httpx.AsyncClient, object]]:
    """The same service (same database) with tight limits, one client per test."""
    settings = user_settings.model_copy(
        update={
            "login_per_ip_per_minute": 14,
            "login_per_account_per_minute": 6,
            "register_per_ip_per_hour": 3,
            "reset_per_ip_per_hour": 50,
            "reset_per_account_per_hour": 2,
            "lockout_after_failures": 3,
            "lockout_base_seconds": 2,
            "lockout_max_seconds": 60,
        }
    )
    app, lifespan = await start(settings)
    redis = app.state.ctx.redis
    for pattern in ("user:ratelimit:*", "user:lockout:*"):  # fresh counters for this test
        async for key in redis.scan_iter(match=pattern):
            await redis.delete(key)
    ip = f"203.0.113.{id(app) % 250 + 1}"
    transport = httpx.ASGITransport(app=app, client=(ip, 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://user.test") as client:
        yield client, app
    await lifespan.__aexit__(None, None, None)


async def test_brute_force_hits_the_lockout_then_the_limit(
    client: httpx.AsyncClient, mailbox: Mailbox, strict: tuple[httpx.AsyncClient, object]
) -> None:
    address, _ = await register_verified(client, mailbox)
    attacker, _ = strict
    statuses = []
    for _ in range(8):
        r = await attacker.post("/v1/auth/login", json={"email": address, "password": "guess" * 3})
        statuses.append(r.status_code)
    assert statuses[:3] == [401, 401, 401]
    assert set(statuses[3:]) == {429}
    locked = await attacker.post("/v1/auth/login", json={"email": address, "password": PASSWORD})
    assert locked.status_code == 429  # even the right password waits out the lock
    assert int(locked.headers["Retry-After"]) >= 1
    # an address without an account locks exactly the same way
    ghost = new_email()
    ghost_statuses = []
    for _ in range(4):
        r = await attacker.post("/v1/auth/login", json={"email": ghost, "password": "guess" * 3})
        ghost_statuses.append(r.status_code)
    assert ghost_statuses[:3] == [401, 401, 401]


async def test_lockout_expires_and_doubles(
    client: httpx.AsyncClient, mailbox: Mailbox, strict: tuple[httpx.AsyncClient, object]
) -> None:
    address, _ = await register_verified(client, mailbox)
    attacker, app = strict
    lockout = app.state.ctx.lockout  # type: ignore[attr-defined]
    for _ in range(2):
        assert await lockout.failed(address) == 0
    assert await lockout.failed(address) == 2
    assert await lockout.failed(address) == 4  # progressive
    await asyncio.sleep(4.2)
    r = await attacker.post("/v1/auth/login", json={"email": address, "password": PASSWORD})
    assert r.status_code == 200, r.text
    assert await lockout.locked_for(address) == 0  # success clears the count


async def test_login_rate_limit_per_ip(
    client: httpx.AsyncClient, mailbox: Mailbox, strict: tuple[httpx.AsyncClient, object]
) -> None:
    attacker, _ = strict
    statuses = []
    for _ in range(16):  # many accounts from one address
        r = await attacker.post(
            "/v1/auth/login", json={"email": new_email(), "password": "guess" * 3}
        )
        statuses.append(r.status_code)
    assert statuses[:14] == [401] * 14
    assert statuses[14:] == [429, 429]
    assert "RateLimit-Limit" in r.headers


async def test_registration_and_reset_limits(
    client: httpx.AsyncClient, mailbox: Mailbox, strict: tuple[httpx.AsyncClient, object]
) -> None:
    attacker, _ = strict
    codes = [
        (
            await attacker.post(
                "/v1/auth/register", json={"email": new_email(), "password": PASSWORD}
            )
        ).status_code
        for _ in range(4)
    ]
    assert codes == [202, 202, 202, 429]
    address, _ = await register_verified(client, mailbox)
    resets = [
        (
            await attacker.post("/v1/auth/password-reset/request", json={"email": address})
        ).status_code
        for _ in range(3)
    ]
    assert resets == [202, 202, 429]
