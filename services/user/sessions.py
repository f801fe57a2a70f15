"""Sessions and devices in Redis: what `GET /v1/me/sessions` lists and what revocation removes.

A session is one sign-in on one device: it is the family of its refresh tokens (the session id
is the family id, and access tokens carry it as `sid`). PostgreSQL decides whether a refresh
token is valid; Redis holds what people want to see about their sessions (device, IP, first and
last seen), expiring with the session. Keys: `user:session:<sid>` (hash) and
`user:sessions:<user id>` (set of session ids).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from services.user.client import ClientInfo


def _session_key(sid: str) -> str:
    return f"user:session:{sid}"


def _index_key(user_id: str) -> str:
    return f"user:sessions:{user_id}"


def _revoked_key(sid: str) -> str:
    return f"user:revoked-session:{sid}"


@dataclass(frozen=True)
class SessionInfo:
    session_id: str
    user_id: str
    device: str
    ip: str
    user_agent: str
    created_at: float
    last_seen_at: float
    amr: str


class Sessions:
    def __init__(
        self, redis: Redis[Any], *, ttl_seconds: int, access_token_seconds: int = 300
    ) -> None:
        self.redis = redis
        self.ttl = ttl_seconds
        # a revoked session is remembered as long as one of its access tokens can live
        self.revoked_ttl = access_token_seconds + 60

    async def start(self, *, sid: str, user_id: str, client: ClientInfo, amr: list[str]) -> None:
        now = str(time.time())
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                _session_key(sid),
                mapping={
                    "user_id": user_id,
                    "device": client.device,
                    "ip": client.ip,
                    "user_agent": client.user_agent,
                    "created_at": now,
                    "last_seen_at": now,
                    "amr": ",".join(amr),
                },
            )
            pipe.expire(_session_key(sid), self.ttl)
            pipe.sadd(_index_key(user_id), sid)
            pipe.expire(_index_key(user_id), self.ttl)
            await pipe.execute()

    async def touch(self, *, sid: str, user_id: str, client: ClientInfo, amr: list[str]) -> None:
        """A refresh: extend the session and record where it was seen (re-creates a lost one)."""
        if not await self.redis.exists(_session_key(sid)):
            await self.start(sid=sid, user_id=user_id, client=client, amr=amr)
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                _session_key(sid),
                mapping={"last_seen_at": str(time.time()), "ip": client.ip},
            )
            pipe.expire(_session_key(sid), self.ttl)
            pipe.sadd(_index_key(user_id), sid)
            pipe.expire(_index_key(user_id), self.ttl)
            await pipe.execute()

    async def active(self, user_id: str) -> list[SessionInfo]:
        sids = sorted(await self.redis.smembers(_index_key(user_id)))
        if not sids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for sid in sids:
                pipe.hgetall(_session_key(sid))
            found = await pipe.execute()
        sessions: list[SessionInfo] = []
        gone: list[str] = []
        for sid, data in zip(sids, found, strict=True):
            if not data:
                gone.append(sid)
                continue
            sessions.append(
                SessionInfo(
                    session_id=sid,
                    user_id=data["user_id"],
                    device=data.get("device", ""),
                    ip=data.get("ip", ""),
                    user_agent=data.get("user_agent", ""),
                    created_at=float(data.get("created_at", 0)),
                    last_seen_at=float(data.get("last_seen_at", 0)),
                    amr=data.get("amr", ""),
                )
            )
        if gone:
            await self.redis.srem(_index_key(user_id), *gone)
        return sorted(sessions, key=lambda s: s.last_seen_at, reverse=True)

    async def owner(self, sid: str) -> str | None:
        owner: str | None = await self.redis.hget(_session_key(sid), "user_id")
        return owner

    async def end(self, *, user_id: str, sids: list[str]) -> None:
        if not sids:
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(*[_session_key(s) for s in sids])
            pipe.srem(_index_key(user_id), *sids)
            for sid in sids:
                pipe.set(_revoked_key(sid), user_id, ex=self.revoked_ttl)
            await pipe.execute()

    async def revoked(self, sid: str) -> bool:
        return bool(await self.redis.exists(_revoked_key(sid)))
