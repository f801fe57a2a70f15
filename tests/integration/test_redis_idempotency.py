"""kommerce.data.redis_idempotency against the test stack's real Redis.

Every test uses its own namespace. No timed assertions: the tests coordinate with events; the
only waits are the library's own polling and, once, a short lock expiring.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from kommerce.data.cache import redis_client
from kommerce.data.idempotency import KeyReused, fingerprint
from kommerce.data.redis_idempotency import KeyInUse, RedisIdempotency, Replay

pytestmark = pytest.mark.integration

BODY = {"order_id": "o-1", "amount": {"amount": 1999, "currency": "EUR"}}
FP = fingerprint(BODY)


@pytest.fixture
async def redis(stack_env: dict[str, str]) -> AsyncIterator[Redis[str]]:
    client = redis_client(stack_env["KOMMERCE_REDIS_URL"])
    yield client
    await client.aclose()  # type: ignore[attr-defined]  # types-redis predates aclose


@pytest.fixture
async def namespace(redis: Redis[str]) -> AsyncIterator[str]:
    ns = f"test-idem-{uuid.uuid4().hex[:8]}"
    yield ns
    keys = [k async for k in redis.scan_iter(match=f"{ns}:*")]
    if keys:
        await redis.delete(*keys)


def key() -> str:
    return f"key-{uuid.uuid4()}"


async def test_concurrent_identical_requests_run_the_work_once(
    redis: Redis[str], namespace: str
) -> None:
    store = RedisIdempotency(redis, namespace)
    k = key()
    runs = 0
    started = asyncio.Event()
    proceed = asyncio.Event()

    async def request() -> tuple[int, Any]:
        nonlocal runs
        async with store.attempt("user-1", k, FP) as attempt:
            if attempt.replay is not None:
                return attempt.replay
            runs += 1
            started.set()
            await proceed.wait()  # the others arrive while this one holds the key
            body = {"payment_id": str(uuid.uuid4())}
            await attempt.store(201, body)
            return 201, body

    tasks = [asyncio.create_task(request()) for _ in range(20)]
    await started.wait()
    await asyncio.sleep(0.05)  # let the duplicates reach Redis and start waiting
    proceed.set()
    results = await asyncio.gather(*tasks)
    assert runs == 1
    assert all(tuple(r) == tuple(results[0]) for r in results)  # Replay is a (status, body)
    assert results[0][0] == 201
    assert sum(isinstance(r, Replay) for r in results) == 19


async def test_the_same_key_with_another_body_is_a_409(redis: Redis[str], namespace: str) -> None:
    store = RedisIdempotency(redis, namespace)
    k = key()
    async with store.attempt("user-1", k, FP) as attempt:
        await attempt.store(201, {"ok": True})
    with pytest.raises(KeyReused) as caught:
        async with store.attempt("user-1", k, fingerprint({**BODY, "order_id": "o-2"})):
            pytest.fail("must not run")
    assert caught.value.status == 409
    async with store.attempt("user-1", k, FP) as again:  # the same body still replays
        assert again.replay == (201, {"ok": True})


async def test_another_body_while_the_first_runs_is_a_409_at_once(
    redis: Redis[str], namespace: str
) -> None:
    store = RedisIdempotency(redis, namespace, wait_seconds=30)
    k = key()
    async with store.attempt("user-1", k, FP) as attempt:
        with pytest.raises(KeyReused):
            async with store.attempt("user-1", k, fingerprint({"other": 1})):
                pytest.fail("must not run")
        await attempt.store(200, {})


async def test_a_failed_request_stores_nothing_and_a_retry_runs(
    redis: Redis[str], namespace: str
) -> None:
    store = RedisIdempotency(redis, namespace)
    k = key()
    done_key, lock_key = store.keys("user-1", k)

    async def failing() -> None:
        async with store.attempt("user-1", k, FP) as attempt:
            assert attempt.replay is None
            assert await redis.exists(lock_key) == 1
            raise RuntimeError("provider down")

    with pytest.raises(RuntimeError, match="provider down"):
        await failing()
    assert await redis.exists(done_key, lock_key) == 0
    async with store.attempt("user-1", k, FP) as retry:
        assert retry.replay is None
        await retry.store(201, {"second": True})
    async with store.attempt("user-1", k, FP) as replay:
        assert replay.replay == (201, {"second": True})


async def test_a_waiting_duplicate_takes_over_when_the_holder_fails(
    redis: Redis[str], namespace: str
) -> None:
    store = RedisIdempotency(redis, namespace)
    k = key()
    holding = asyncio.Event()
    fail = asyncio.Event()

    async def holder() -> None:
        async with store.attempt("user-1", k, FP):
            holding.set()
            await fail.wait()
            raise RuntimeError("timeout at the provider")

    async def duplicate() -> tuple[int, Any]:
        async with store.attempt("user-1", k, FP) as attempt:
            if attempt.replay is not None:
                return attempt.replay
            await attempt.store(201, {"by": "duplicate"})
            return 201, {"by": "duplicate"}

    first = asyncio.create_task(holder())
    await holding.wait()
    second = asyncio.create_task(duplicate())
    await asyncio.sleep(0.05)  # the duplicate is polling
    fail.set()
    with pytest.raises(RuntimeError):
        await first
    assert await second == (201, {"by": "duplicate"})


async def test_an_expired_lock_of_a_crashed_holder_is_taken_over(
    redis: Redis[str], namespace: str
) -> None:
    store = RedisIdempotency(redis, namespace, lock_seconds=0.3)
    k = key()
    crashed = store.attempt("user-1", k, FP)
    stale = await crashed.__aenter__()  # never exited: the process "died" holding the key
    async with store.attempt("user-1", k, FP) as attempt:
        assert attempt.replay is None  # it waited for the lock to expire, then took it
        await attempt.store(201, {"by": "survivor"})
    await stale.store(201, {"by": "zombie"})  # too late: it no longer holds the lock
    async with store.attempt("user-1", k, FP) as replay:
        assert replay.replay == (201, {"by": "survivor"})
    await crashed.__aexit__(None, None, None)  # tidy up the generator (stores nothing more)


async def test_waiting_too_long_is_a_409_with_retry_after(
    redis: Redis[str], namespace: str
) -> None:
    store = RedisIdempotency(redis, namespace, lock_seconds=30, wait_seconds=0.1)
    k = key()
    async with store.attempt("user-1", k, FP) as attempt:
        with pytest.raises(KeyInUse) as caught:
            async with store.attempt("user-1", k, FP):
                pytest.fail("must not run")
        await attempt.store(201, {})
    assert caught.value.status == 409
    assert caught.value.slug == "idempotency-key-in-use"
    assert 1 <= int(caught.value.headers["Retry-After"]) <= 30


async def test_ttls_on_the_response_and_the_lock(redis: Redis[str], namespace: str) -> None:
    store = RedisIdempotency(redis, namespace, ttl_seconds=3600, lock_seconds=30)
    k = key()
    done_key, lock_key = store.keys("user-1", k)
    async with store.attempt("user-1", k, FP) as attempt:
        assert 0 < await redis.pttl(lock_key) <= 30_000
        await attempt.store(201, {"id": 1})
        assert await redis.exists(lock_key) == 0  # released by store()
    assert 0 < await redis.ttl(done_key) <= 3600


async def test_keys_are_per_owner(redis: Redis[str], namespace: str) -> None:
    store = RedisIdempotency(redis, namespace)
    k = key()
    for owner in ("user-1", "user-2"):
        async with store.attempt(owner, k, FP) as attempt:
            assert attempt.replay is None
            await attempt.store(201, {"owner": owner})
    async with store.attempt("user-2", k, FP) as replay:
        assert replay.replay == (201, {"owner": "user-2"})
    # an owner containing the separator cannot reach another owner's key
    assert store.keys("a:b", "c") != store.keys("a", "b:c")


async def test_a_replay_cannot_store(redis: Redis[str], namespace: str) -> None:
    store = RedisIdempotency(redis, namespace)
    k = key()
    async with store.attempt("user-1", k, FP) as attempt:
        await attempt.store(201, {})
    async with store.attempt("user-1", k, FP) as replay:
        with pytest.raises(RuntimeError):
            await replay.store(200, {})
