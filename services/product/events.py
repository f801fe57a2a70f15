"""The product service's events, recorded through the core outbox in the changing transaction."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.events import outbox
from kommerce.events.schemas import Registry
from kommerce.events.serde import encode

PRODUCER = "product"
PRODUCT_CHANGED = "product.changed"
PRODUCT_DELETED = "product.deleted"
PRICE_CHANGED = "product.price_changed"
CATEGORY_CHANGED = "product.category_changed"


@cache
def registry() -> Registry:
    return Registry.load()


async def emit(session: AsyncSession, event_type: str, payload: dict[str, Any]) -> None:
    await outbox.record(session, encode(registry(), event_type, payload, producer=PRODUCER))
