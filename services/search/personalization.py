"""Personalization hook: a user's preferred categories boost their results.

`Personalizer` is the seam: the PostgreSQL one below learns from the user's clicks (the clicked
product's category +1, its ancestors +0.25, weights read back scaled to [0, 1]); the ML
recommendation service can replace it with one that asks its model.
"""

from __future__ import annotations

import time
from typing import Protocol

from sqlalchemy import text

from kommerce.data.db import Database

LEAF_WEIGHT = 1.0
ANCESTOR_WEIGHT = 0.25
TOP_CATEGORIES = 20


class Personalizer(Protocol):
    async def category_weights(self, user_key: str) -> dict[str, float]:
        """Category id → preference in [0, 1] (empty: nothing known)."""

    async def record_click(self, user_key: str, product_id: str) -> None:
        """The user clicked a search result."""


LEARN = text(
    """
    INSERT INTO user_categories AS u (user_key, category_id, weight)
    SELECT :user, c.id, CASE WHEN c.ord = cardinality(p.category_ids) THEN CAST(:leaf AS float8)
      ELSE CAST(:ancestor AS float8) END
    FROM products p, unnest(p.category_ids) WITH ORDINALITY AS c(id, ord)
    WHERE p.product_id = :product
    ON CONFLICT (user_key, category_id)
    DO UPDATE SET weight = u.weight + EXCLUDED.weight, updated_at = now()
    """
)
READ = text(
    "SELECT category_id, weight FROM user_categories WHERE user_key = :user "
    "ORDER BY weight DESC LIMIT :top"
)


class ClickPersonalizer:
    def __init__(self, db: Database, *, cache_seconds: float = 5.0) -> None:
        self.db = db
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, dict[str, float]]] = {}

    async def category_weights(self, user_key: str) -> dict[str, float]:
        cached = self._cache.get(user_key)
        if cached and time.monotonic() - cached[0] < self.cache_seconds:
            return cached[1]
        async with self.db.session() as s:
            found = (await s.execute(READ, {"user": user_key, "top": TOP_CATEGORIES})).all()
        top = max((r.weight for r in found), default=0.0)
        weights = {r.category_id: r.weight / top for r in found} if top > 0 else {}
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[user_key] = (time.monotonic(), weights)
        return weights

    async def record_click(self, user_key: str, product_id: str) -> None:
        async with self.db.session() as s:
            await s.execute(
                LEARN,
                {
                    "user": user_key,
                    "product": product_id,
                    "leaf": LEAF_WEIGHT,
                    "ancestor": ANCESTOR_WEIGHT,
                },
            )
        self._cache.pop(user_key, None)
