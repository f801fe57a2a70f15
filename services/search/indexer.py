"""Events → index: the `search-index` projection over product.* and inventory.stock_changed.

Event-carried state: `product.changed` holds the whole product, so the index never calls the
product service. Every write is versioned (product `version`, stock `changed_at`), so stale and
duplicate events are no-ops and a replay from the beginning (`rebuild`) gives the same index.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.events.projection import Projection
from kommerce.events.schemas import Registry
from kommerce.events.serde import Event
from services.search.backend import SearchBackend
from services.search.models import PriceRange, SearchDocument, StockLevel

SUBJECTS = (
    "product.changed",
    "product.deleted",
    "product.category_changed",
    "inventory.stock_changed",
)
PROJECTION = "search-index"


def _moment(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(int(value) / 1000, UTC)


def document_from_event(payload: dict[str, Any]) -> SearchDocument:
    """A `product.changed` payload as the index's document."""
    attributes: dict[str, set[str]] = {}
    for name, value in (payload.get("attributes") or {}).items():
        attributes.setdefault(name, set()).add(value)
    prices: dict[str, PriceRange] = {}
    for v in payload.get("variants") or []:
        for name, value in (v.get("attributes") or {}).items():
            attributes.setdefault(name, set()).add(value)
        amount, currency = int(v["price_amount"]), v["currency"]
        known = prices.get(currency)
        prices[currency] = PriceRange(
            min=min(amount, known.min) if known else amount,
            max=max(amount, known.max) if known else amount,
        )
    variants = payload.get("variants") or []
    images = payload.get("image_urls") or []
    return SearchDocument(
        product_id=payload["product_id"],
        version=int(payload["version"]),
        slug=payload["slug"],
        name=payload["name"],
        description=payload.get("description") or "",
        status=payload["status"],
        brand=payload.get("brand"),
        category_id=payload.get("category_id"),
        category_ids=list(payload.get("category_ids") or []),
        category_path=list(payload.get("category_path") or []),
        attributes={k: sorted(v) for k, v in attributes.items()},
        variant_ids=[v["variant_id"] for v in variants],
        skus=[v["sku"] for v in variants],
        prices=prices,
        image_url=images[0] if images else None,
        changed_at=_moment(payload["changed_at"]),
    )


CATEGORY_UPSERT = text(
    """
    INSERT INTO categories AS c (category_id, path_ids, path_names, deleted, changed_at)
    VALUES (:id, :ids, :names, :deleted, :at)
    ON CONFLICT (category_id) DO UPDATE SET path_ids = EXCLUDED.path_ids,
      path_names = EXCLUDED.path_names, deleted = EXCLUDED.deleted,
      changed_at = EXCLUDED.changed_at
    WHERE c.changed_at < EXCLUDED.changed_at
    RETURNING category_id
    """
)


class Indexer:
    """Applies one decoded event to the backend (category freshness is kept in `session`)."""

    def __init__(self, backend: SearchBackend) -> None:
        self.backend = backend

    async def apply(self, session: AsyncSession, event: Event) -> None:
        p = event.payload
        if event.type == "product.changed":
            await self.backend.index_documents([document_from_event(p)])
        elif event.type == "product.deleted":
            await self.backend.delete(p["product_id"], int(p["version"]))
        elif event.type == "inventory.stock_changed":
            await self.backend.set_stock(
                [
                    StockLevel(
                        variant_id=p["variant_id"],
                        product_id=p.get("product_id"),
                        available=int(p["available"]),
                        changed_at=_moment(p["changed_at"]),
                    )
                ]
            )
        elif event.type == "product.category_changed":
            await self._category(session, p)

    async def _category(self, session: AsyncSession, p: dict[str, Any]) -> None:
        deleted = p["change"] == "deleted"
        newer = await session.execute(
            CATEGORY_UPSERT,
            {
                "id": p["category_id"],
                "ids": list(p.get("path_ids") or []),
                "names": list(p.get("path_names") or []),
                "deleted": deleted,
                "at": _moment(p["changed_at"]),
            },
        )
        if newer.first() is None or deleted or not p.get("path_ids"):
            return  # stale, or nothing to rewrite
        await self.backend.rename_category(p["category_id"], p["path_ids"], p["path_names"])

    async def reset(self, session: AsyncSession) -> None:
        await session.execute(text("TRUNCATE categories"))
        await self.backend.clear()


def projection(indexer: Indexer, registry: Registry) -> Projection:
    topics = tuple(registry.subject(s).topic for s in SUBJECTS)
    return Projection(name=PROJECTION, topics=topics, apply=indexer.apply, reset=indexer.reset)
