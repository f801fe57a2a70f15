"""Progressive lockout after failed sign-ins, keyed by the email as typed (hashed).

After `after` consecutive failures the address is locked for `base` seconds, doubling with each
further failure up to `cap`. Keyed by the address, not the account, so an unknown address locks
exactly like a known one and the lockout reveals nothing about which accounts exist. A success
clears the count. Complements the per-IP and per-account rate limits (`kommerce.http.ratelimit`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis


def _key(kind: str, email: str) -> str:
    return f"user:lockout:{kind}:{hashlib.sha256(email.strip().lower().encode()).hexdigest()}"


@dataclass(frozen=True)
class Lockout:
    redis: Redis[Any]
    after: int
    base_seconds: int
    cap_seconds: int

    async def locked_for(self, email: str) -> int:
        """Seconds the address stays locked (0: not locked)."""
        ttl = int(await self.redis.pttl(_key("lock", email)))
        return 0 if ttl <= 0 else max(1, (ttl + 999) // 1000)

    async def failed(self, email: str) -> int:
        """Count a failure; returns the lock duration it caused (0: none yet)."""
        failures = int(await self.redis.incr(_key("failures", email)))
        await self.redis.expire(_key("failures", email), self.cap_seconds * 2)
        if failures < self.after:
            return 0
        seconds = int(
            min(self.cap_seconds, self.base_seconds * 2 ** min(failures - self.after, 30))
        )
        await self.redis.set(_key("lock", email), str(failures), ex=seconds)
        return seconds

    async def succeeded(self, email: str) -> None:
        await self.redis.delete(_key("failures", email), _key("lock", email))
