"""The Redis sliding-window `RateLimiter` against the test stack's real Redis.

Every test uses its own key prefix and subjects. Time is passed with `now=` (aligned to window
boundaries) so the sliding arithmetic is deterministic; `enforce` and `reset` use the clock.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from kommerce.data.cache import redis_client
from kommerce.http.errors import TooManyRequests
from kommerce.http.ratelimit import Limit, RateLimiter

pytestmark = pytest.mark.integration

WINDOW = 60


@pytest.fixture
async def redis(stack_env: dict[str, str]) -> AsyncIterator[Redis[str]]:
    client = redis_client(stack_env["KOMMERCE_REDIS_URL"])
    yield client
    await client.aclose()  # type: ignore[attr-defined]  # types-redis predates aclose


@pytest.fixture
async def limiter(redis: Redis[str]) -> AsyncIterator[RateLimiter]:
    prefix = f"test-ratelimit-{uuid.uuid4().hex[:8]}"
    yield RateLimiter(redis, prefix=prefix)
    keys = [k async for k in redis.scan_iter(match=f"{prefix}:*")]
    if keys:
        await redis.delete(*keys)


def window_start() -> float:
    """The start of a window boundary near now (keys expire on the real clock)."""
    return float((int(time.time()) // WINDOW + 1) * WINDOW)


def subject() -> str:
    return f"203.0.113.{uuid.uuid4().int % 250}-{uuid.uuid4().hex[:6]}"


async def test_allows_up_to_the_limit_then_denies_with_retry_after(limiter: RateLimiter) -> None:
    limit = Limit("login:ip", requests=5, window_seconds=WINDOW)
    who = subject()
    at = window_start() + 15  # a quarter into the window
    decisions = [await limiter.hit(limit, who, now=at) for _ in range(5)]
    assert [d.allowed for d in decisions] == [True] * 5
    assert [d.count for d in decisions] == [1, 2, 3, 4, 5]
    assert decisions[0].headers() == {"RateLimit-Limit": "5", "RateLimit-Remaining": "4"}
    assert decisions[-1].headers()["RateLimit-Remaining"] == "0"
    assert "Retry-After" not in decisions[-1].headers()

    denied = await limiter.hit(limit, who, now=at)
    assert not denied.allowed
    # The 6 hits still weigh on the next window: one more fits when 6 * (1 - e) + 1 <= 5,
    # a third into it, 65 s from now (not the 45 s left in this window).
    assert denied.retry_after == 65
    assert denied.headers() == {
        "RateLimit-Limit": "5",
        "RateLimit-Remaining": "0",
        "Retry-After": "65",
    }


# (hits before, as (seconds into window 0, count)), the denied hit's time, the limit.
SCENARIOS = [
    pytest.param([(15, 5)], 15, 5, id="over-in-this-window"),
    pytest.param([(50, 5)], 66, 5, id="previous-window-decaying"),
    pytest.param([(10, 3), (60, 2)], 60, 5, id="both-windows"),
    pytest.param([(30, 1)], 30, 1, id="limit-of-one"),
    pytest.param([(0, 10)], 59, 3, id="hammered"),
]


@pytest.mark.parametrize(("before", "denied_at", "requests"), SCENARIOS)
async def test_retry_after_is_when_a_retry_succeeds(
    limiter: RateLimiter, before: list[tuple[int, int]], denied_at: int, requests: int
) -> None:
    """A client that waits Retry-After is let in; one that comes a second earlier is not."""
    limit = Limit("login:ip", requests=requests, window_seconds=WINDOW)
    start = window_start()

    async def replay() -> tuple[str, int]:
        who = subject()
        for offset, count in before:
            for _ in range(count):
                await limiter.hit(limit, who, now=start + offset)
        denied = await limiter.hit(limit, who, now=start + denied_at)
        assert not denied.allowed
        return who, denied.retry_after

    who, retry_after = await replay()
    assert retry_after >= 1
    assert (await limiter.hit(limit, who, now=start + denied_at + retry_after)).allowed
    if retry_after > 1:
        early, again = await replay()
        assert again == retry_after
        assert not (
            await limiter.hit(limit, early, now=start + denied_at + retry_after - 1)
        ).allowed


async def test_enforce_raises_429_with_headers(limiter: RateLimiter) -> None:
    limit = Limit("register:ip", requests=3, window_seconds=3600)
    who = subject()
    for _ in range(3):
        assert (await limiter.enforce(limit, who)).allowed
    with pytest.raises(TooManyRequests) as caught:
        await limiter.enforce(limit, who)
    problem = caught.value
    assert problem.status == 429
    # up to two windows: hits made early in this window still weigh on the next one
    assert 1 <= int(problem.headers["Retry-After"]) <= 2 * 3600
    assert problem.headers["RateLimit-Remaining"] == "0"
    assert f"{problem.headers['Retry-After']} s" in problem.detail


async def test_window_slides(limiter: RateLimiter) -> None:
    limit = Limit("login:account", requests=10, window_seconds=WINDOW)
    who = subject()
    start = window_start()
    for _ in range(10):
        assert (await limiter.hit(limit, who, now=start + 30)).allowed

    # A fixed window would reset here; the sliding one still sees the 10 hits 30 s ago.
    boundary = await limiter.hit(limit, who, now=start + WINDOW)
    assert not boundary.allowed
    assert boundary.count == pytest.approx(11)

    # Half-way into the next window half of the previous one still counts: 10 * 0.5 + 1 + 1.
    half = await limiter.hit(limit, who, now=start + WINDOW + 30)
    assert half.allowed
    assert half.count == pytest.approx(7)
    more = [await limiter.hit(limit, who, now=start + WINDOW + 30) for _ in range(4)]
    assert [d.allowed for d in more] == [True, True, True, False]  # 8, 9, 10, then 11

    # Later in the same window the previous one weighs less: 10 * 0.1 + 6 + 1 = 8.
    late = await limiter.hit(limit, who, now=start + WINDOW + 54)
    assert late.allowed
    assert late.count == pytest.approx(8)

    # Two windows on, nothing from the first one is left.
    fresh = await limiter.hit(limit, who, now=start + 3 * WINDOW)
    assert fresh.allowed
    assert fresh.count == pytest.approx(1)


async def test_subjects_and_limits_are_independent(limiter: RateLimiter) -> None:
    per_ip = Limit("login:ip", requests=2, window_seconds=WINDOW)
    per_account = Limit("login:account", requests=2, window_seconds=WINDOW)
    alice, bob = subject(), subject()
    at = window_start() + 1
    for _ in range(3):
        await limiter.hit(per_ip, alice, now=at)
    assert not (await limiter.hit(per_ip, alice, now=at)).allowed
    assert (await limiter.hit(per_ip, bob, now=at)).allowed  # another subject
    assert (await limiter.hit(per_account, alice, now=at)).allowed  # another limit
    assert (await limiter.hit(per_account, alice, now=at)).count == 2

    other_prefix = RateLimiter(limiter.redis, prefix=f"{limiter.prefix}:other")
    assert (await other_prefix.hit(per_ip, alice, now=at)).allowed
    await other_prefix.reset(per_ip, alice)


async def test_subjects_are_hashed_in_redis(limiter: RateLimiter, redis: Redis[str]) -> None:
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    limit = Limit("reset:account", requests=5, window_seconds=WINDOW)
    await limiter.hit(limit, email)
    keys = [k async for k in redis.scan_iter(match=f"{limiter.prefix}:*")]
    assert len(keys) == 1
    assert email not in keys[0]
    assert keys[0].startswith(f"{limiter.prefix}:reset:account:")
    ttl_ms = await redis.pttl(keys[0])
    assert 0 < ttl_ms <= 2 * WINDOW * 1000  # counters expire after two windows


async def test_concurrent_hits_never_exceed_the_limit(
    limiter: RateLimiter, stack_env: dict[str, str]
) -> None:
    limit = Limit("login:ip", requests=10, window_seconds=WINDOW)
    who = subject()
    at = window_start() + 20
    decisions = await asyncio.gather(*(limiter.hit(limit, who, now=at) for _ in range(50)))
    assert sum(d.allowed for d in decisions) == 10
    assert sorted(d.count for d in decisions) == list(range(1, 51))

    # Several replicas (own connections) racing on one subject: still exactly the limit.
    replicas = [redis_client(stack_env["KOMMERCE_REDIS_URL"]) for _ in range(5)]
    try:
        limiters = [RateLimiter(r, prefix=limiter.prefix) for r in replicas]
        racer = subject()
        decisions = await asyncio.gather(
            *(limiters[i % 5].hit(limit, racer, now=at) for i in range(50))
        )
        assert sum(d.allowed for d in decisions) == 10
    finally:
        for r in replicas:
            await r.aclose()  # type: ignore[attr-defined]


async def test_reset(limiter: RateLimiter) -> None:
    limit = Limit("login:account", requests=3, window_seconds=3600)
    who, other = subject(), subject()
    for _ in range(4):
        await limiter.hit(limit, who)
        await limiter.hit(limit, other)
    assert not (await limiter.hit(limit, who)).allowed

    await limiter.reset(limit, who)
    after = await limiter.hit(limit, who)
    assert after.allowed
    assert after.count == pytest.approx(1)
    assert not (await limiter.hit(limit, other)).allowed  # only that subject was reset
    await limiter.reset(limit, subject())  # resetting a subject never seen is harmless


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Limit("x", requests=0, window_seconds=60)
    with pytest.raises(ValueError, match="positive"):
        Limit("x", requests=5, window_seconds=0)
