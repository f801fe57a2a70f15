"""Rate limits in Redis, shared by every replica of a service.

A sliding-window counter: the current and the previous fixed window are counted, the previous one
weighted by how much of it still overlaps the sliding window (the approximation Cloudflare and
nginx use). One Lua script per hit, so a check is one round trip and atomic across replicas.
Limits are named (`login:ip`, `login:account`, ...) and keyed by whatever the caller chooses
(an IP, a hashed email); keys are hashed so no personal data sits in Redis.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from kommerce.http.errors import TooManyRequests

_SCRIPT = """
local current = tonumber(redis.call('INCR', KEYS[1]))
if current == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1] * 2) end
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
return {current, previous}
"""


@dataclass(frozen=True)
class Limit:
    name: str
    requests: int
    window_seconds: int

    def __post_init__(self) -> None:
        if self.requests < 1 or self.window_seconds < 1:
            raise ValueError(f"limit {self.name}: requests and window must be positive")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: Limit
    count: float
    retry_after: int

    def headers(self) -> dict[str, str]:
        remaining = max(0, math.floor(self.limit.requests - self.count))
        headers = {
            "RateLimit-Limit": str(self.limit.requests),
            "RateLimit-Remaining": str(remaining),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


def _retry_after(limit: Limit, current: int, previous: int, elapsed: float) -> int:
    """Seconds until one more hit fits, if none come in between (the previous window decays;
    the end of this window alone is not enough while its own hits weigh on the next one)."""
    room = limit.requests - current - 1  # what the previous window may still weigh
    if room >= 0 and previous > 0:
        fits_at = 1.0 - room / previous  # later in this window
    else:  # in the next one, where this window's hits are the decaying previous count
        fits_at = 2.0 - (limit.requests - 1) / current
    return max(1, math.ceil(round((fits_at - elapsed) * limit.window_seconds, 6)))  # no 65.0001


class RateLimiter:
    def __init__(self, redis: Redis[Any], *, prefix: str = "ratelimit") -> None:
        self.redis = redis
        self.prefix = prefix
        self._script = redis.register_script(_SCRIPT)

    def _key(self, limit: Limit, subject: str, window: int) -> str:
        digest = hashlib.sha256(subject.encode()).hexdigest()[:32]
        return f"{self.prefix}:{limit.name}:{digest}:{window}"

    async def hit(self, limit: Limit, subject: str, *, now: float | None = None) -> Decision:
        now = time.time() if now is None else now
        window = int(now // limit.window_seconds)
        elapsed = (now % limit.window_seconds) / limit.window_seconds
        current, previous = await self._script(
            keys=[self._key(limit, subject, window), self._key(limit, subject, window - 1)],
            args=[limit.window_seconds * 1000],
        )
        count = float(previous) * (1.0 - elapsed) + float(current)
        allowed = count <= limit.requests
        retry_after = 0 if allowed else _retry_after(limit, int(current), int(previous), elapsed)
        return Decision(allowed, limit, count, retry_after)

    async def enforce(self, limit: Limit, subject: str) -> Decision:
        """Count a hit; raise 429 (with Retry-After) when the limit is exceeded."""
        decision = await self.hit(limit, subject)
        if not decision.allowed:
            raise TooManyRequests(
                f"too many attempts; try again in {decision.retry_after} s",
                headers=decision.headers(),
            )
        return decision

    async def reset(self, limit: Limit, subject: str) -> None:
        window = int(time.time() // limit.window_seconds)
        await self.redis.delete(
            self._key(limit, subject, window), self._key(limit, subject, window - 1)
        )
