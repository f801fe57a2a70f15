"""Idempotent requests whose effect is NOT in our own database transaction (a payment provider
call): the key, a lock and the stored response live in Redis.

    store = RedisIdempotency(redis, "payment")
    async with store.attempt(user_id, key, idempotency.fingerprint(body)) as attempt:
        if attempt.replay is not None:
            return attempt.replay                      # (status, body) of the first request
        out = await call_the_provider(...)
        await attempt.store(201, out)
        return 201, out

`kommerce.data.idempotency` is the choice when the work commits in PostgreSQL: the key row
commits or rolls back with it. Here the work happens elsewhere, so:

- a finished request's response is kept under the key for `ttl_seconds`; the same key with the
  same body gets it back (`attempt.replay`), with another body a 409 `KeyReused`;
- while a request runs it holds a lock (`SET NX PX`, a random token). A duplicate polls until
  the holder stores its response (then replays it) or gives up without storing (an exception
  left the block: the lock is released, nothing is kept) — then the duplicate takes the lock
  and does the work itself, so a retry with the same key works after a failure;
- a holder that crashed leaves its lock to expire after `lock_seconds`: make it longer than
  the slowest protected call, retries included;
- a duplicate that waited `wait_seconds` gets a 409 `idempotency-key-in-use` with Retry-After;
  one that arrives with another body while the first runs gets `KeyReused` at once.

Storing and releasing are Lua scripts that act only while the caller's token still holds the
lock. Keys are `<namespace>:{<sha256(owner)[:32]>:<key>}:done|lock`: per owner, so two users'
keys never collide, and in one Redis Cluster hash slot.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, NamedTuple

from redis.asyncio import Redis
from redis.exceptions import RedisError

from kommerce.data.idempotency import KeyReused
from kommerce.http.errors import Conflict

log = logging.getLogger(__name__)

# KEYS: done, lock. ARGV: lock value, lock ms.
_ACQUIRE = """
local done = redis.call('GET', KEYS[1])
if done then return {'done', done} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {'locked', ''} end
return {'held', redis.call('GET', KEYS[2]) or '', redis.call('PTTL', KEYS[2])}
"""
# KEYS: done, lock. ARGV: lock value, response, ttl seconds. 1: stored under our lock.
_STORE = """
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  redis.call('DEL', KEYS[2])
  return 1
end
redis.call('SET', KEYS[1], ARGV[2], 'NX', 'EX', ARGV[3])
return 0
"""
# KEYS: lock. ARGV: lock value.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
POLL_FIRST, POLL_MAX = 0.02, 0.25  # seconds between looks at a held key (doubling)


class KeyInUse(Conflict):
    slug, title = "idempotency-key-in-use", "A request with this idempotency key is in progress"


class Replay(NamedTuple):
    status: int
    body: Any


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Attempt:
    """One request's turn at a key: `replay` is the stored response, or None: do the work and
    `store` its response (or leave the block with an exception to store nothing)."""

    def __init__(self, store: RedisIdempotency, keys: list[str], lock: str | None) -> None:
        self._idem = store
        self._keys = keys
        self._lock = lock  # our lock value while we hold it
        self.replay: Replay | None = None
        self.stored = False

    async def store(self, status: int, body: Any) -> None:
        """Keep `(status, body)` for `ttl_seconds` and release the lock."""
        if self._lock is None or self.stored:
            raise RuntimeError("store() belongs to the attempt that holds the key, once")
        fingerprint = self._lock.split(" ", 1)[1]
        response = json.dumps({"fingerprint": fingerprint, "status": status, "body": body})
        held = await self._idem._store_script(
            keys=self._keys, args=[self._lock, response, self._idem.ttl_seconds]
        )
        self.stored = True
        if not held:
            log.warning(
                "idempotency lock expired before the response was stored; "
                "lock_seconds is shorter than the work",
                extra={"namespace": self._idem.namespace},
            )

    async def _release(self) -> None:
        if self._lock is None or self.stored:
            return
        try:
            await self._idem._release_script(keys=self._keys[1:], args=[self._lock])
        except RedisError:  # never mask the block's own error; the lock expires anyway
            log.warning(
                "could not release an idempotency lock; it expires in lock_seconds",
                exc_info=True,
                extra={"namespace": self._idem.namespace},
            )


class RedisIdempotency:
    def __init__(
        self,
        redis: Redis[Any],
        namespace: str,
        ttl_seconds: int = 86_400,
        lock_seconds: float = 30.0,
        wait_seconds: float = 10.0,
    ) -> None:
        self.redis = redis
        self.namespace = namespace
        self.ttl_seconds = ttl_seconds
        self.lock_seconds = lock_seconds
        self.wait_seconds = wait_seconds
        self._acquire_script = redis.register_script(_ACQUIRE)
        self._store_script = redis.register_script(_STORE)
        self._release_script = redis.register_script(_RELEASE)

    def keys(self, owner: str, key: str) -> tuple[str, str]:
        """The Redis keys (response, lock) of `owner`'s idempotency `key`."""
        digest = hashlib.sha256(owner.encode()).hexdigest()[:32]
        base = f"{self.namespace}:{{{digest}:{key}}}"
        return f"{base}:done", f"{base}:lock"

    @asynccontextmanager
    async def attempt(self, owner: str, key: str, fingerprint: str) -> AsyncIterator[Attempt]:
        """Take `owner`'s `key` for a request whose body has `fingerprint`, or replay it.

        Raises `KeyReused` (another body) or `KeyInUse` (still running after `wait_seconds`)."""
        keys = list(self.keys(owner, key))
        lock = f"{uuid.uuid4().hex} {fingerprint}"
        deadline = time.monotonic() + self.wait_seconds
        pause = POLL_FIRST
        while True:
            kind, value, *rest = await self._acquire_script(
                keys=keys, args=[lock, max(1, math.ceil(self.lock_seconds * 1000))]
            )
            kind = _text(kind)
            if kind == "done":
                stored = json.loads(value)
                if stored["fingerprint"] != fingerprint:
                    raise self._reused(key)
                attempt = Attempt(self, keys, None)
                attempt.replay = Replay(stored["status"], stored["body"])
                yield attempt
                return
            if kind == "locked":
                break
            holder = _text(value)
            if holder and holder.split(" ", 1)[1] != fingerprint:
                raise self._reused(key)
            left = deadline - time.monotonic()
            if left <= 0:
                expires = int(rest[0]) / 1000 if rest and int(rest[0]) > 0 else self.lock_seconds
                retry_after = max(1, math.ceil(expires))
                raise KeyInUse(
                    f"a request with Idempotency-Key {key!r} is still in progress; "
                    f"retry in {retry_after} s",
                    headers={"Retry-After": str(retry_after)},
                )
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, POLL_MAX)
        attempt = Attempt(self, keys, lock)
        try:
            yield attempt
        finally:
            await asyncio.shield(attempt._release())

    @staticmethod
    def _reused(key: str) -> KeyReused:
        return KeyReused(
            f"Idempotency-Key {key!r} was first used with a different request body; "
            "use a new key for a new request"
        )
