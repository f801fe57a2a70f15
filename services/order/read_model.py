"""The customer's order history (CQRS read model `customer_orders`), built from `order.*` events.

Live, the service's consumer group applies `order.placed`, `order.status_changed`,
`order.shipped` and `order.refunded` through the inbox (`subscriptions()`); `rebuild()` empties
the table and replays the four topics from their beginning (kommerce.events.projection), e.g.
after a change to this code: `python -m services.order.read_model rebuild`.

Every event is applied so that the result does not depend on the order the topics are read in
(each topic is ordered per order, the topics are not ordered against each other) nor on an event
being applied twice (a rebuild while the live consumer runs):

- `order.placed` sets number, lines (names, quantities, unit prices), item count and `placed_at`;
- `order.status_changed` sets status, version, estimated delivery only if its `version` is newer
  than the row's (older versions are dropped);
- `order.shipped` sets `summary.tracking`; `order.refunded` sets `summary.refunds[refund_id]`;
- `refunded_minor` only grows: the largest of the values `order.status_changed` carried and the
  sum of the refunds seen (a partial refund does not change the status, so it has no
  `order.status_changed`).

An event for an order the table does not know yet first inserts a placeholder row (status
`pending`, version 0) that the other events complete.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, literal, text, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.data.db import Database
from kommerce.events.emitter import registry
from kommerce.events.projection import Projection, ProjectionRunner, ensure_positions
from kommerce.events.serde import Event
from services.order import events
from services.order.consumers import Subscription
from services.order.settings import OrderSettings
from services.order.tables import CUSTOMER_ORDERS

NAME = "customer_orders"
EVENT_TYPES = (events.PLACED, events.STATUS_CHANGED, events.SHIPPED, events.REFUNDED)
T = CUSTOMER_ORDERS


def topics() -> tuple[str, ...]:
    return tuple(registry().subject(t).topic for t in EVENT_TYPES)


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


async def _placeholder(session: AsyncSession, p: dict[str, Any], at: datetime) -> None:
    await session.execute(
        insert(T)
        .values(
            order_id=uuid.UUID(p["order_id"]),
            customer_id=uuid.UUID(p["customer_id"]),
            number=p.get("number") or "",
            status="pending",
            currency=p.get("currency") or "",
            total_minor=p.get("total_minor") or 0,
            item_count=0,
            summary={},
            placed_at=at,
            version=0,
        )
        .on_conflict_do_nothing(index_elements=["order_id"])
    )


def _merge(key: str, value: Any) -> Any:
    """summary || {key: value} (JSONB)."""
    return T.c.summary.op("||")(literal({key: value}, JSONB))


REFUND = text(
    "UPDATE customer_orders SET updated_at = now(), summary = jsonb_set(summary, '{refunds}', "
    "coalesce(summary->'refunds', '{}'::jsonb) "
    "|| jsonb_build_object(CAST(:refund AS text), CAST(:amount AS bigint))) "
    "WHERE order_id = :id"
)
REFUNDED_TOTAL = text(
    "UPDATE customer_orders SET refunded_minor = greatest(refunded_minor, "
    "(SELECT coalesce(sum(value::bigint), 0) FROM jsonb_each_text(summary->'refunds'))) "
    "WHERE order_id = :id"
)


async def apply(session: AsyncSession, event: Event) -> None:
    p = event.payload
    if event.type not in EVENT_TYPES:
        return
    order_id = uuid.UUID(p["order_id"])
    await _placeholder(session, p, p.get("placed_at") or p.get("changed_at") or event.occurred_at)
    row = T.c.order_id == order_id
    if event.type == events.PLACED:
        lines = [
            {
                "name": line.get("name") or "",
                "sku": line.get("sku") or "",
                "quantity": line["quantity"],
                "unit_price_minor": line["unit_price_minor"],
            }
            for line in p["lines"]
        ]
        values: dict[str, Any] = {
            "number": p.get("number") or "",
            "currency": p["currency"],
            "total_minor": p["total_minor"],
            "item_count": sum(line["quantity"] for line in lines),
            "summary": _merge("lines", lines),
            "placed_at": p.get("placed_at") or event.occurred_at,
        }
        await session.execute(update(T).where(row).values(**values, updated_at=func.now()))
    elif event.type == events.STATUS_CHANGED:
        await session.execute(
            update(T)
            .where(row, T.c.version < p["version"])
            .values(
                number=p["number"],
                currency=p["currency"],
                total_minor=p["total_minor"],
                status=p["status"],
                version=p["version"],
                refunded_minor=func.greatest(T.c.refunded_minor, p.get("refunded_minor") or 0),
                estimated_delivery=_date(p.get("estimated_delivery")),
                updated_at=func.now(),
            )
        )
    elif event.type == events.SHIPPED:
        tracking = {
            "carrier": p["carrier"],
            "tracking_number": p["tracking_number"],
            "tracking_url": p.get("tracking_url"),
            "estimated_delivery": p.get("estimated_delivery"),
        }
        await session.execute(
            update(T).where(row).values(summary=_merge("tracking", tracking), updated_at=func.now())
        )
    else:  # order.refunded
        await session.execute(
            REFUND, {"id": order_id, "refund": p["refund_id"], "amount": p["amount_minor"]}
        )
        await session.execute(REFUNDED_TOTAL, {"id": order_id})


async def reset(session: AsyncSession) -> None:
    await session.execute(text("TRUNCATE customer_orders"))


def projection() -> Projection:
    return Projection(name=NAME, topics=topics(), apply=apply, reset=reset)


def subscriptions() -> list[Subscription]:
    """The live path: the service's consumer group, each event once through the inbox."""

    async def handle(event: Event, session: AsyncSession) -> None:
        await apply(session, event)

    return [Subscription(t, (registry().subject(t).topic,), handle) for t in EVENT_TYPES]


async def rebuild(settings: OrderSettings, database: Database | None = None) -> int:
    """Empty `customer_orders` and replay the topics from the beginning; returns events."""
    if not settings.kafka_bootstrap:
        raise RuntimeError("KOMMERCE_KAFKA_BOOTSTRAP is not set; run `eval $(kommerce stack env)`")
    db = database or Database(url=settings.async_database_url(), schema=settings.schema_name)
    try:
        await ensure_positions(db.engine)
        runner = ProjectionRunner(
            projection(), database=db, bootstrap=settings.kafka_bootstrap, registry=registry()
        )
        return await runner.rebuild()
    finally:
        if database is None:
            await db.close()


def main(argv: list[str]) -> int:
    if argv[1:] != ["rebuild"]:
        print("usage: python -m services.order.read_model rebuild", file=sys.stderr)
        return 2
    applied = asyncio.run(rebuild(OrderSettings()))
    print(json.dumps({"projection": NAME, "events_applied": applied}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
