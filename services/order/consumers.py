"""What the order service consumes, dispatched by event type.

Each area registers its handlers in `handlers()`: the catalog projection (`product.*`), saga
replies (`saga.reply` on `<saga>.replies.v1`) and the customer read model (`order.*`). One
consumer group reads all their topics; the consumer's inbox applies each event once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.events.consumer import ConsumedMessage
from kommerce.events.emitter import registry
from kommerce.events.serde import Event, decode

EventHandler = Callable[[Event, AsyncSession], Awaitable[None]]


@dataclass(frozen=True)
class Subscription:
    event_type: str
    topics: tuple[str, ...]
    handle: EventHandler


class Dispatcher:
    """A consumer handler that decodes a record and calls the subscription for its type."""

    def __init__(self, subscriptions: list[Subscription]) -> None:
        self.by_type: dict[str, list[EventHandler]] = {}
        for s in subscriptions:
            self.by_type.setdefault(s.event_type, []).append(s.handle)
        self.topics = sorted({t for s in subscriptions for t in s.topics})

    async def __call__(self, message: ConsumedMessage, session: AsyncSession) -> None:
        if message.value is None:
            return
        event = decode(registry(), key=message.key, value=message.value, headers=message.headers)
        for handle in self.by_type.get(event.type, ()):
            await handle(event, session)
