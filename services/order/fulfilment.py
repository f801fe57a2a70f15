"""Staff moves after payment: start fulfilment, hand to a carrier, cancel a paid order.

Every status change goes through `orders.transition` (state machine, history,
`order.status_changed`); the notification events (`order.shipped`, `order.cancelled`) are
recorded in the same transaction.

Cancelling a paid order: the checkout saga has finished (stock committed, payment authorized),
so there is nothing left to compensate. The order moves to `cancelled` at once (the customer
sees it) and a small saga `cancel` undoes the effects by messages, the same way the checkout
saga does: `void_authorization` → payment, then `restock_items` → inventory (the committed
units go back on the shelf). Neither step has a compensation; a step that fails or times out
after its retries leaves the saga `compensated` with its error, logged and visible with
`kommerce saga show ID`, for a person to finish by hand (the order stays cancelled).
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.events.emitter import registry
from kommerce.events.saga import Orchestrator, SagaDefinition, Status, Step
from kommerce.events.serde import Event
from kommerce.http.errors import Conflict
from services.order import events, orders
from services.order.settings import OrderSettings
from services.order.states import Actor, OrderStatus
from services.order.tables import ORDER_LINES, SHIPMENTS, SHIPPING_METHODS

log = logging.getLogger("kommerce.order.fulfilment")
CANCEL_SAGA = "cancel"
# A fixed namespace for the ids derived from an order (the cancellation's restock key).
NAMESPACE = uuid.UUID("6f1d7c2e-3b1a-4f3e-9a51-0c7d2b8e4a10")


class DuplicateTracking(Conflict):
    slug, title = "duplicate-tracking-number", "This tracking number is already used"


def cancel_definition(settings: OrderSettings) -> SagaDefinition:
    timeout = timedelta(seconds=settings.payment_timeout_seconds)
    return SagaDefinition(
        name=CANCEL_SAGA,
        steps=(
            Step("void_authorization", "payment", timeout=timeout, retries=settings.step_retries),
            Step("restock_items", "inventory", timeout=timeout, retries=settings.step_retries),
        ),
        producer="order",
    )


def cancel_orchestrator(settings: OrderSettings) -> Orchestrator:
    return Orchestrator(cancel_definition(settings), registry())


def notification(order: orders.Order) -> dict[str, Any]:
    """The fields every order notification starts with."""
    r = order.row
    return {
        "order_id": str(r["id"]),
        "customer_id": str(r["customer_id"]),
        "number": r["number"],
        "email": r["email"],
        "locale": r["locale"],
    }


async def fulfil(session: AsyncSession, order_id: uuid.UUID, *, actor: str) -> orders.Order:
    return await orders.transition(
        session,
        order_id,
        OrderStatus.FULFILLING,
        actor=actor,
        actor_kind=Actor.STAFF,
        reason="fulfilment started",
    )


async def estimate(session: AsyncSession, order: orders.Order, shipped: date) -> date | None:
    """The latest day the order's shipping method promises, counted from the shipping day."""
    days = (
        await session.execute(
            select(SHIPPING_METHODS.c.max_days)
            .where(SHIPPING_METHODS.c.code == order.row["shipping_method"])
            .where(SHIPPING_METHODS.c.currency == order.row["currency"])
        )
    ).scalar_one_or_none()
    return None if days is None else shipped + timedelta(days=days)


async def ship(
    session: AsyncSession,
    order_id: uuid.UUID,
    *,
    actor: str,
    carrier: str,
    tracking_number: str,
    tracking_url: str | None,
    estimated_delivery: date | None,
) -> tuple[orders.Order, dict[str, Any]]:
    """fulfilling → shipped with a shipment; `estimated_delivery` (the carrier's) wins over
    the shipping method's promise."""
    order = await orders.load(session, order_id, lock=True)
    now = datetime.now(UTC)
    eta = estimated_delivery or await estimate(session, order, now.date())
    order = await orders.transition(
        session,
        order_id,
        OrderStatus.SHIPPED,
        actor=actor,
        actor_kind=Actor.STAFF,
        reason=f"handed to {carrier} ({tracking_number})",
        changes={"estimated_delivery": eta},
    )
    shipment = {
        "id": uuid.uuid4(),
        "order_id": order_id,
        "carrier": carrier,
        "tracking_number": tracking_number,
        "tracking_url": tracking_url,
        "status": "label_created",
        "estimated_delivery": eta,
        "shipped_at": now,
    }
    try:
        async with session.begin_nested():
            await session.execute(insert(SHIPMENTS).values(**shipment))
    except IntegrityError as exc:
        raise DuplicateTracking(
            f"{carrier} tracking number {tracking_number} belongs to another shipment"
        ) from exc
    await events.emit(
        session,
        events.SHIPPED,
        notification(order)
        | {
            "carrier": carrier,
            "tracking_number": tracking_number,
            "tracking_url": tracking_url,
            "estimated_delivery": eta.isoformat() if eta else None,
        },
    )
    return order, shipment


async def cancel(
    session: AsyncSession,
    order_id: uuid.UUID,
    *,
    actor: str,
    actor_kind: Actor,
    reason: str,
    settings: OrderSettings,
) -> orders.Order:
    """paid → cancelled, `order.cancelled`, and the `cancel` saga that voids and restocks."""
    order = await orders.transition(
        session,
        order_id,
        OrderStatus.CANCELLED,
        actor=actor,
        actor_kind=actor_kind,
        reason=reason or "cancelled",
    )
    lines = (
        await session.execute(
            select(ORDER_LINES.c.variant_id, ORDER_LINES.c.quantity)
            .where(ORDER_LINES.c.order_id == order_id)
            .order_by(ORDER_LINES.c.line_no)
        )
    ).all()
    r = order.row
    data = {
        "order_id": str(order_id),
        "order_number": r["number"],
        "payment_id": r["payment_id"],
        "reservation_id": r["reservation_id"],
        "amount_minor": r["total_minor"],
        "currency": r["currency"],
        # restock_items' contract names the batch `return_id`: a cancellation is one batch too
        "return_id": str(uuid.uuid5(NAMESPACE, f"cancel:{order_id}")),
        "lines": [{"variant_id": str(v), "quantity": q} for v, q in lines],
        "reason": "order cancelled",
    }
    await cancel_orchestrator(settings).start(session, data)
    await events.emit(
        session,
        events.CANCELLED,
        notification(order) | {"status": OrderStatus.CANCELLED.value, "reason": reason},
    )
    return order


async def on_cancel_reply(session: AsyncSession, event: Event, settings: OrderSettings) -> None:
    """`saga.reply` on `cancel.replies.v1`: drive the cancellation saga."""
    if event.payload.get("saga_type") != CANCEL_SAGA:
        return
    status = await cancel_orchestrator(settings).on_reply(session, event)
    if status in (Status.COMPENSATED, Status.FAILED):
        log.error(
            "cancellation of a paid order did not finish; see `kommerce saga show`",
            extra={"saga_id": event.payload["saga_id"], "step": event.payload["name"]},
        )
