"""The inventory service's events, recorded through the core outbox in the changing transaction."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.events import outbox
from kommerce.events.message import EncodedMessage
from kommerce.events.schemas import Registry
from kommerce.events.serde import encode

PRODUCER = "inventory"
STOCK_CHANGED = "inventory.stock_changed"
LOW_STOCK = "inventory.low_stock"
STOCK_RESERVED = "inventory.stock_reserved"


@cache
def registry() -> Registry:
    return Registry.load()


def message(event_type: str, payload: dict[str, Any]) -> EncodedMessage:
    return encode(registry(), event_type, payload, producer=PRODUCER)


async def emit(session: AsyncSession, event_type: str, payload: dict[str, Any]) -> None:
    await outbox.record(session, message(event_type, payload))
