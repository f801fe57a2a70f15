"""A service's events into its outbox, in the transaction that makes the change.

    emit = Emitter("product")
    await emit(session, "product.changed", payload)             # one event
    await emit.many(session, [("product.price_changed", p), ...])  # one INSERT for several

The payload is validated against the subject's latest schema and encoded (`serde.encode`);
the relay publishes it after the commit (docs/events.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.events import outbox
from kommerce.events.message import EncodedMessage
from kommerce.events.schemas import Registry
from kommerce.events.serde import encode


@cache
def registry() -> Registry:
    """The schemas in `schemas/`, loaded once per process."""
    return Registry.load()


class Emitter:
    def __init__(self, producer: str) -> None:
        self.producer = producer

    def message(self, event_type: str, payload: dict[str, Any]) -> EncodedMessage:
        return encode(registry(), event_type, payload, producer=self.producer)

    async def __call__(
        self, session: AsyncSession, event_type: str, payload: dict[str, Any]
    ) -> None:
        await outbox.record(session, self.message(event_type, payload))

    async def many(
        self, session: AsyncSession, events: Sequence[tuple[str, dict[str, Any]]]
    ) -> None:
        if events:
            await outbox.record_many(session, [self.message(t, p) for t, p in events])
