"""Search analytics: every search and click recorded; reports of top and zero-result queries
and click-through rates per query and per ranking variant.

Searches are buffered in memory and written in batches (`flush`, every
`analytics_flush_seconds`) so recording never adds a write to a search's latency; a crash loses
at most one interval of query records.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, text

from kommerce.data.db import Database
from services.search.tables import SEARCH_CLICKS, SEARCH_QUERIES

log = logging.getLogger("kommerce.search.analytics")
MAX_BUFFER = 50_000


@dataclass(frozen=True)
class QueryRecord:
    query_id: str
    at: datetime
    q: str
    normalized: str
    total: int
    matched_by: str
    user_key: str | None
    experiment: str | None
    variant: str | None
    ranking: str


TOP = text(
    """
    SELECT normalized AS query, count(*) AS searches, avg(total)::float AS avg_results
    FROM search_queries WHERE at >= :since AND normalized <> ''
    GROUP BY normalized ORDER BY searches DESC, normalized LIMIT :limit
    """
)
ZERO = text(
    """
    SELECT normalized AS query, count(*) AS searches, max(at) AS last_seen
    FROM search_queries WHERE at >= :since AND total = 0 AND normalized <> ''
    GROUP BY normalized ORDER BY searches DESC, normalized LIMIT :limit
    """
)
CTR_BY = {
    "query": ("q.normalized", "q.normalized <> ''"),
    "variant": ("coalesce(q.experiment, '') || ':' || coalesce(q.variant, q.ranking)", "true"),
}
CTR = """
WITH s AS (SELECT {key} AS key, q.query_id FROM search_queries q WHERE q.at >= :since AND {where}),
c AS (SELECT query_id, count(*) AS n FROM search_clicks
      WHERE query_id IN (SELECT query_id FROM s) GROUP BY query_id)
SELECT s.key, count(*) AS searches, count(c.query_id) AS clicked,
  coalesce(sum(c.n), 0)::int AS clicks
FROM s LEFT JOIN c ON c.query_id = s.query_id
GROUP BY s.key ORDER BY searches DESC, s.key LIMIT :limit
"""
POPULAR = text(
    """
    SELECT normalized, count(*) AS n FROM search_queries
    WHERE normalized LIKE :prefix AND total > 0 AND at >= :since
    GROUP BY normalized ORDER BY n DESC, normalized LIMIT :limit
    """
)


class Analytics:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._buffer: list[QueryRecord] = []
        self._lock = asyncio.Lock()

    def record(self, entry: QueryRecord) -> None:
        if len(self._buffer) >= MAX_BUFFER:
            log.warning("analytics buffer full; dropping a query record")
            return
        self._buffer.append(entry)

    async def flush(self) -> int:
        async with self._lock:
            batch, self._buffer = self._buffer, []
            if not batch:
                return 0
            try:
                async with self.db.session() as s:
                    await s.execute(insert(SEARCH_QUERIES), [vars(e) for e in batch])
            except Exception:
                self._buffer[:0] = batch  # keep them for the next attempt
                raise
            return len(batch)

    async def run(self, interval: float, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
            try:
                await self.flush()
            except Exception:
                log.exception("writing search analytics failed; will retry")

    async def query_owner(self, query_id: str) -> tuple[bool, str | None]:
        """Whether the query is known, and whose it was."""
        await self.flush()
        async with self.db.session() as s:
            row = (
                await s.execute(
                    text("SELECT user_key FROM search_queries WHERE query_id = :id"),
                    {"id": query_id},
                )
            ).first()
        return (row is not None, row.user_key if row else None)

    async def click(self, query_id: str, product_id: str, position: int, user: str | None) -> None:
        async with self.db.session() as s:
            await s.execute(
                insert(SEARCH_CLICKS).values(
                    query_id=query_id, product_id=product_id, position=position, user_key=user
                )
            )

    async def top_queries(self, days: int, limit: int) -> list[dict[str, Any]]:
        return await self._rows(TOP, days, limit)

    async def zero_result_queries(self, days: int, limit: int) -> list[dict[str, Any]]:
        return await self._rows(ZERO, days, limit)

    async def click_through(self, by: str, days: int, limit: int) -> list[dict[str, Any]]:
        key, where = CTR_BY[by]
        sql = CTR.format(key=key, where=where)
        found = await self._rows(text(sql), days, limit)
        for row in found:
            row["ctr"] = row["clicked"] / row["searches"] if row["searches"] else 0.0
        return found

    async def popular(self, prefix: str, limit: int, days: int = 30) -> list[tuple[str, int]]:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        async with self.db.session() as s:
            found = await s.execute(
                POPULAR, {"prefix": escaped + "%", "limit": limit, "since": _since(days)}
            )
        return [(r.normalized, r.n) for r in found]

    async def _rows(self, sql: Any, days: int, limit: int) -> list[dict[str, Any]]:
        await self.flush()
        async with self.db.session() as s:
            found = await s.execute(sql, {"since": _since(days), "limit": limit})
        return [dict(r._mapping) for r in found]


def _since(days: int) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)
