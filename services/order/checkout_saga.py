"""The checkout saga: reserve stock → authorize payment → commit stock, and what it does to orders.

    reserve_stock      inventory   compensation: release_stock
    authorize_payment  payment     compensation: void_authorization
    commit_stock       inventory   (confirms the reservation)

The saga state (kommerce.events.saga) lives in this service's schema, next to the orders, and
every command leaves through the outbox in the transaction that moved the saga, so the process
can die anywhere: after a restart the relay sends what was committed, the consumer resumes from
its committed offsets, and participants apply a re-sent command once (inbox + their own keys).

The order follows the saga (`settle`):
- `reserve_stock` succeeded → `awaiting_payment` (the reservation id is kept on the order);
- the saga completed → `paid` and `order.confirmed`;
- the saga was compensated (or a compensation failed) → `cancelled` when the stock step failed
  or timed out, `payment_failed` when the payment step did; `order.cancelled` either way.
The step that failed is kept in `orders.failure_reason` as `<step>: <reason>`.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.events.emitter import registry
from kommerce.events.saga import SAGAS, Orchestrator, SagaDefinition, Status, Step
from kommerce.events.serde import Event
from services.order import events, orders
from services.order.settings import OrderSettings
from services.order.states import Actor, OrderStatus
from services.order.tables import ORDERS

NAME = "checkout"
REPLY_TOPIC = f"{NAME}.replies.v1"
ACTOR = "system:checkout-saga"


def definition(settings: OrderSettings) -> SagaDefinition:
    reserve = timedelta(seconds=settings.reserve_timeout_seconds)
    pay = timedelta(seconds=settings.payment_timeout_seconds)
    retries = settings.step_retries
    return SagaDefinition(
        name=NAME,
        producer="order",
        steps=(
            Step("reserve_stock", "inventory", "release_stock", timeout=reserve, retries=retries),
            Step(
                "authorize_payment", "payment", "void_authorization", timeout=pay, retries=retries
            ),
            Step("commit_stock", "inventory", timeout=reserve, retries=retries),
        ),
    )


class CheckoutSaga:
    def __init__(self, settings: OrderSettings) -> None:
        self.orchestrator = Orchestrator(definition(settings), registry())

    async def start(self, session: AsyncSession, saga_id: uuid.UUID, data: dict[str, Any]) -> None:
        await self.orchestrator.start(session, data, saga_id=saga_id)

    async def on_reply(self, event: Event, session: AsyncSession) -> None:
        """A participant answered (the consumer calls this once per reply, in its transaction)."""
        p = event.payload
        if p["saga_type"] != NAME:
            return
        status = await self.orchestrator.on_reply(session, event)
        if status is None:  # stale or for a finished saga
            return
        saga_id = uuid.UUID(p["saga_id"])
        if p["phase"] == "forward" and p["outcome"] == "failure":
            await session.execute(
                update(ORDERS)
                .where(ORDERS.c.saga_id == saga_id)
                .values(failure_reason=f"{p['name']}: {p['reason']}"[:2000])
            )
        if p["phase"] == "forward" and p["outcome"] == "success" and p["name"] == "reserve_stock":
            data = json.loads(p.get("data") or "{}")
            order_id = await self._order_of(session, saga_id)
            if order_id is not None:
                await orders.transition(
                    session,
                    order_id,
                    OrderStatus.AWAITING_PAYMENT,
                    actor=ACTOR,
                    actor_kind=Actor.SYSTEM,
                    reason="stock reserved",
                    changes={"reservation_id": data.get("reservation_id")},
                )
        if status in (Status.COMPLETED, Status.COMPENSATED, Status.FAILED):
            await settle(session, saga_id)

    async def on_timeouts(self, session: AsyncSession) -> int:
        """Re-send or fail overdue steps, then settle the orders whose saga just ended."""
        moved = await self.orchestrator.on_timeouts(session)
        if moved:
            ended = await session.execute(
                select(SAGAS.c.id)
                .join(ORDERS, ORDERS.c.saga_id == SAGAS.c.id)
                .where(SAGAS.c.type == NAME)
                .where(SAGAS.c.status.in_([s.value for s in (Status.COMPENSATED, Status.FAILED)]))
                .where(
                    ORDERS.c.status.in_(
                        [OrderStatus.PENDING.value, OrderStatus.AWAITING_PAYMENT.value]
                    )
                )
            )
            for (saga_id,) in ended.all():
                await settle(session, saga_id)
        return moved

    @staticmethod
    async def _order_of(session: AsyncSession, saga_id: uuid.UUID) -> uuid.UUID | None:
        found: uuid.UUID | None = (
            await session.execute(select(ORDERS.c.id).where(ORDERS.c.saga_id == saga_id))
        ).scalar_one_or_none()
        return found


async def settle(session: AsyncSession, saga_id: uuid.UUID) -> None:
    """Move the saga's order to where the finished saga left it (idempotent)."""
    saga = (await session.execute(select(SAGAS).where(SAGAS.c.id == saga_id))).mappings().first()
    order_id = (
        await session.execute(select(ORDERS.c.id).where(ORDERS.c.saga_id == saga_id))
    ).scalar_one_or_none()
    if saga is None or order_id is None:
        return
    order = await orders.load(session, order_id, lock=True)
    if order.status not in (OrderStatus.PENDING, OrderStatus.AWAITING_PAYMENT):
        return  # settled before
    status = Status(saga["status"])
    if status == Status.COMPLETED:
        payment_id = str(saga["data"].get("payment_id", ""))
        order = await orders.transition(
            session,
            order_id,
            OrderStatus.PAID,
            actor=ACTOR,
            actor_kind=Actor.SYSTEM,
            reason="payment authorized",
            changes={"payment_id": payment_id},
        )
        r = order.row
        await events.emit(
            session,
            events.CONFIRMED,
            {
                "order_id": str(r["id"]),
                "payment_id": payment_id,
                "customer_id": str(r["customer_id"]),
                "number": r["number"],
                "email": r["email"],
                "locale": r["locale"],
                "currency": r["currency"],
                "total_minor": r["total_minor"],
            },
        )
        return
    if status not in (Status.COMPENSATED, Status.FAILED):
        return
    reason = order.row["failure_reason"] or saga["error"] or "checkout failed"
    if status == Status.FAILED:
        reason = f"{reason} (a compensation failed too: kommerce saga show {saga_id})"
    payment_failed = order.status == OrderStatus.AWAITING_PAYMENT and reason.startswith(
        "authorize_payment"
    )
    target = OrderStatus.PAYMENT_FAILED if payment_failed else OrderStatus.CANCELLED
    order = await orders.transition(
        session,
        order_id,
        target,
        actor=ACTOR,
        actor_kind=Actor.SYSTEM,
        reason=reason,
        changes={"failure_reason": reason[:2000]},
    )
    r = order.row
    await events.emit(
        session,
        events.CANCELLED,
        {
            "order_id": str(r["id"]),
            "customer_id": str(r["customer_id"]),
            "number": r["number"],
            "email": r["email"],
            "locale": r["locale"],
            "status": target.value,
            "reason": reason[:500],
        },
    )
