"""Available-to-sell per variant, cached in Redis under `ats:<variant_id>`.

An entry is a hash `{available, version}`; `version` is the variant's `stock_version`, so a
write only lands if it is not older than what the cache holds (one Lua call): the write-through
after a commit, the replayed `inventory.stock_changed` event and a read-through fill can arrive
in any order and the newest wins. A miss (or Redis being down) reads PostgreSQL.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import text

from kommerce.data.db import Database

log = logging.getLogger("kommerce.inventory.ats")

PUT_IF_NEWER = """
local current = redis.call('HGET', KEYS[1], 'version')
if current and tonumber(current) > tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'available', ARGV[1], 'version', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


def ats_key(variant_id: uuid.UUID | str) -> str:
    return f"ats:{variant_id}"


@dataclass(frozen=True)
class Availability:
    variant_id: uuid.UUID
    available: int
    version: int
    source: str  # cache | database


class AtsCache:
    def __init__(self, redis: Redis[Any], db: Database, *, ttl_seconds: int) -> None:
        self.redis = redis
        self.db = db
        self.ttl_seconds = ttl_seconds
        self._put = redis.register_script(PUT_IF_NEWER)

    async def put(self, variant_id: uuid.UUID | str, available: int, version: int) -> bool:
        """Store unless the cache holds a newer version; True if stored."""
        stored = await self._put(
            keys=[ats_key(variant_id)], args=[available, version, self.ttl_seconds]
        )
        return bool(stored)

    async def write_through(self, entries: Iterable[tuple[uuid.UUID, int, int]]) -> None:
        """After a commit: best effort (the stock_changed event brings the same values). One
        entry is one script call; several go in one pipeline (which first checks the script
        is loaded: two round trips whatever the number)."""
        entries = list(entries)
        try:
            if len(entries) == 1:
                await self.put(*entries[0])
            elif entries:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for variant_id, available, version in entries:
                        await self._put(
                            keys=[ats_key(variant_id)],
                            args=[available, version, self.ttl_seconds],
                            client=pipe,
                        )
                    await pipe.execute()
        except RedisError as exc:
            log.warning("ATS write-through failed for %d variant(s): %s", len(entries), exc)

    async def get_many(self, variant_ids: Sequence[uuid.UUID]) -> list[Availability]:
        cached: dict[uuid.UUID, Availability] = {}
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for variant_id in variant_ids:
                    pipe.hmget(ats_key(variant_id), ["available", "version"])
                results = await pipe.execute()
            for variant_id, (available, version) in zip(variant_ids, results, strict=True):
                if available is not None and version is not None:
                    cached[variant_id] = Availability(
                        variant_id, int(available), int(version), "cache"
                    )
        except RedisError as exc:
            log.warning("ATS cache unavailable, reading PostgreSQL: %s", exc)
        missing = [v for v in variant_ids if v not in cached]
        if missing:
            for found in await self.from_database(missing):
                cached[found.variant_id] = found
                with contextlib.suppress(RedisError):
                    await self.put(found.variant_id, found.available, found.version)
        return [cached[v] for v in variant_ids]

    async def from_database(self, variant_ids: Sequence[uuid.UUID]) -> list[Availability]:
        async with self.db.session() as session:
            rows = (
                await session.execute(
                    text(
                        "SELECT v.variant_id, v.stock_version, "
                        "COALESCE(SUM(s.on_hand - s.reserved), 0) AS available "
                        "FROM variants v LEFT JOIN stock_levels s USING (variant_id) "
                        "WHERE v.variant_id = ANY(:ids) GROUP BY v.variant_id"
                    ),
                    {"ids": list(variant_ids)},
                )
            ).all()
        known = {
            r.variant_id: Availability(
                r.variant_id, int(r.available), int(r.stock_version), "database"
            )
            for r in rows
        }
        return [known.get(v, Availability(v, 0, 0, "database")) for v in variant_ids]
