"""Refunds through the `refund` saga (replies on `refund.replies.v1`).

Two shapes share the saga name, told apart by `data.kind`:

- `return`: `restock_items` → inventory (compensation `unrestock_items`), then
  `refund_payment` → payment. Started when staff receive a return; the order is `returned`.
- `direct`: `refund_payment` → payment only. A staff refund without goods coming back
  (a partial refund, a goodwill gesture, shipping costs); the order keeps its status.

Data (the contract in the issue brief): {"kind", "order_id", "refund_id", "payment_id",
"amount_minor", "currency"} plus {"return_id", "lines": [{"variant_id", "quantity"}]} for a
return; `refund_payment` replies {"provider_refund_id"}.

A refund is `pending` from the request on and counts against the order at once: the amount may
not exceed `total_minor` minus every refund not failed (409 `refund-exceeds-paid`), checked with
the order row locked. When the saga completes, in the reply's transaction: the refund becomes
`succeeded`, `orders.refunded_minor` grows, a return's order moves returned → refunded, the
credit note is issued and `order.refunded` is recorded. A saga that ends compensated or failed
(a participant refused, or a step timed out after its retries) marks the refund `failed` (and
the return `refund_failed`; the order stays `returned` and staff may refund directly).

The credit note (`services.order.documents.issue_credit_note`) is issued in the completing
reply's transaction and its number travels in `order.refunded`.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.events.emitter import registry
from kommerce.events.saga import SAGAS, Orchestrator, SagaDefinition, Status, Step
from kommerce.events.serde import Event
from kommerce.http.errors import Conflict
from services.order import events, orders
from services.order.documents import DocumentStore, issue_credit_note
from services.order.fulfilment import notification
from services.order.settings import OrderSettings
from services.order.states import Actor, OrderStatus
from services.order.tables import ORDERS, REFUNDS, RETURNS

log = logging.getLogger("kommerce.order.refunds")
SAGA = "refund"
RETURN, DIRECT = "return", "direct"
# Money has been captured (or is being captured) from fulfilment on; before that, cancel.
REFUNDABLE = frozenset(
    {
        OrderStatus.FULFILLING,
        OrderStatus.SHIPPED,
        OrderStatus.DELIVERED,
        OrderStatus.RETURN_REQUESTED,
        OrderStatus.RETURNED,
        OrderStatus.REFUNDED,
    }
)


class RefundExceedsPaid(Conflict):
    slug, title = "refund-exceeds-paid", "The refund is more than what is left to refund"


class NotRefundable(Conflict):
    slug, title = "not-refundable", "This order cannot be refunded now"


def definition(settings: OrderSettings, kind: str) -> SagaDefinition:
    timeout = timedelta(seconds=settings.payment_timeout_seconds)
    retries = settings.step_retries
    pay = Step("refund_payment", "payment", timeout=timeout, retries=retries)
    if kind == DIRECT:
        return SagaDefinition(name=SAGA, steps=(pay,), producer="order")
    restock = Step(
        "restock_items",
        "inventory",
        compensation="unrestock_items",
        timeout=timedelta(seconds=settings.reserve_timeout_seconds),
        retries=retries,
    )
    return SagaDefinition(name=SAGA, steps=(restock, pay), producer="order")


def orchestrator(settings: OrderSettings, kind: str) -> Orchestrator:
    return Orchestrator(definition(settings, kind), registry())


async def refundable_left(session: AsyncSession, order: orders.Order) -> int:
    """What may still be refunded: the total minus every refund that has not failed."""
    committed = (
        await session.execute(
            select(func.coalesce(func.sum(REFUNDS.c.amount_minor), 0))
            .where(REFUNDS.c.order_id == order.id)
            .where(REFUNDS.c.status != "failed")
        )
    ).scalar_one()
    return int(order.row["total_minor"]) - int(committed)


async def start(
    session: AsyncSession,
    order: orders.Order,
    *,
    amount_minor: int,
    reason: str,
    requested_by: str,
    settings: OrderSettings,
    return_id: uuid.UUID | None = None,
    lines: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A pending refund and its saga; the caller has locked the order row."""
    left = await refundable_left(session, order)
    if amount_minor > left:
        raise RefundExceedsPaid(
            f"{amount_minor} is more than the {left} {order.row['currency']} minor units left "
            "to refund on this order",
            refundable_minor=max(left, 0),
        )
    if not order.row["payment_id"]:
        raise NotRefundable(f"order {order.id} has no payment to refund")
    refund_id, saga_id = uuid.uuid4(), uuid.uuid4()
    kind = RETURN if return_id else DIRECT
    refund = {
        "id": refund_id,
        "order_id": order.id,
        "return_id": return_id,
        "amount_minor": amount_minor,
        "currency": order.row["currency"],
        "status": "pending",
        "reason": reason,
        "requested_by": requested_by,
        "saga_id": saga_id,
    }
    await session.execute(insert(REFUNDS).values(**refund))
    data: dict[str, Any] = {
        "kind": kind,
        "order_id": str(order.id),
        "refund_id": str(refund_id),
        "payment_id": order.row["payment_id"],
        "amount_minor": amount_minor,
        "currency": order.row["currency"],
    }
    if return_id:
        data |= {"return_id": str(return_id), "lines": lines or []}
    await orchestrator(settings, kind).start(session, data, saga_id=saga_id)
    return refund


async def refund_directly(
    session: AsyncSession,
    order_id: uuid.UUID,
    *,
    amount_minor: int,
    reason: str,
    actor: str,
    settings: OrderSettings,
) -> dict[str, Any]:
    order = await orders.load(session, order_id, lock=True)
    if order.status not in REFUNDABLE:
        raise NotRefundable(
            f"an order that is {order.status} cannot be refunded (cancel a paid order instead)",
            status_now=order.status.value,
        )
    return await start(
        session,
        order,
        amount_minor=amount_minor,
        reason=reason,
        requested_by=actor,
        settings=settings,
    )


async def on_reply(
    session: AsyncSession,
    event: Event,
    settings: OrderSettings,
    store: DocumentStore | None = None,
) -> None:
    """`saga.reply` on `refund.replies.v1` (other saga types' replies are not ours)."""
    p = event.payload
    if p.get("saga_type") != SAGA:
        return
    saga_id = uuid.UUID(p["saga_id"])
    kind = (
        await session.execute(select(SAGAS.c.data["kind"].astext).where(SAGAS.c.id == saga_id))
    ).scalar_one_or_none()
    if kind not in (RETURN, DIRECT):
        log.warning("reply for an unknown refund saga", extra={"saga_id": str(saga_id)})
        return
    await orchestrator(settings, kind).on_reply(session, event)
    await settle(session, saga_id, store)


async def on_timeouts(session: AsyncSession, settings: OrderSettings) -> int:
    """Retry or give up overdue steps (each shape with its own steps), then settle."""
    moved = 0
    for kind in (RETURN, DIRECT):
        moved += await orchestrator(settings, kind).on_timeouts(
            session, where=SAGAS.c.data["kind"].astext == kind
        )
    if moved:
        finished = await session.execute(
            select(REFUNDS.c.saga_id)
            .join(SAGAS, SAGAS.c.id == REFUNDS.c.saga_id)
            .where(REFUNDS.c.status == "pending")
            .where(SAGAS.c.status.in_([Status.COMPENSATED.value, Status.FAILED.value]))
        )
        for (saga_id,) in finished.all():
            await settle(session, saga_id)
    return moved


async def settle(
    session: AsyncSession, saga_id: uuid.UUID, store: DocumentStore | None = None
) -> None:
    """Bring the refund (and its return and order) in line with a finished saga."""
    saga = (await session.execute(select(SAGAS).where(SAGAS.c.id == saga_id))).mappings().first()
    if saga is None or saga["status"] not in (
        Status.COMPLETED.value,
        Status.COMPENSATED.value,
        Status.FAILED.value,
    ):
        return
    refund = (
        (
            await session.execute(
                select(REFUNDS).where(REFUNDS.c.saga_id == saga_id).with_for_update()
            )
        )
        .mappings()
        .first()
    )
    if refund is None or refund["status"] != "pending":
        return
    now = datetime.now(UTC)
    if saga["status"] != Status.COMPLETED.value:
        await session.execute(
            update(REFUNDS)
            .where(REFUNDS.c.id == refund["id"])
            .values(status="failed", updated_at=now, reason=_why(refund["reason"], saga))
        )
        if refund["return_id"]:
            await session.execute(
                update(RETURNS)
                .where(RETURNS.c.id == refund["return_id"])
                .values(status="refund_failed", updated_at=now)
            )
        log.error(
            "refund failed",
            extra={"refund_id": str(refund["id"]), "saga_id": str(saga_id), "why": saga["error"]},
        )
        return
    await _succeeded(session, refund, saga["data"], now, store)


def _why(reason: str, saga: Any) -> str:
    error = saga["error"] or "the refund saga did not complete"
    return f"{reason} (failed: {error})" if reason else f"failed: {error}"


async def _succeeded(
    session: AsyncSession,
    refund: Any,
    data: dict[str, Any],
    now: datetime,
    store: DocumentStore | None,
) -> None:
    await session.execute(
        update(REFUNDS)
        .where(REFUNDS.c.id == refund["id"])
        .values(
            status="succeeded",
            provider_refund_id=data.get("provider_refund_id"),
            updated_at=now,
        )
    )
    order = await orders.load(session, refund["order_id"], lock=True)
    refunded = int(order.row["refunded_minor"]) + int(refund["amount_minor"])
    if refund["return_id"]:
        await session.execute(
            update(RETURNS)
            .where(RETURNS.c.id == refund["return_id"])
            .values(status="refunded", updated_at=now)
        )
    if refund["return_id"] and order.status is OrderStatus.RETURNED:
        order = await orders.transition(
            session,
            order.id,
            OrderStatus.REFUNDED,
            actor="system:refund",
            actor_kind=Actor.SYSTEM,
            reason=f"return refunded ({refund['amount_minor']} {refund['currency']} minor units)",
            changes={"refunded_minor": refunded},
        )
    else:
        row = (
            (
                await session.execute(
                    update(ORDERS)
                    .where(ORDERS.c.id == order.id)
                    .values(refunded_minor=refunded, updated_at=now)
                    .returning(*ORDERS.c)
                )
            )
            .mappings()
            .one()
        )
        order = orders.Order(dict(row))
    credit_note = await _credit_note(session, store, refund["id"])
    await events.emit(
        session,
        events.REFUNDED,
        notification(order)
        | {
            "refund_id": str(refund["id"]),
            "amount_minor": int(refund["amount_minor"]),
            "currency": refund["currency"],
            "full": refunded >= int(order.row["total_minor"]),
            "credit_note_number": credit_note,
        },
    )


async def _credit_note(
    session: AsyncSession, store: DocumentStore | None, refund_id: uuid.UUID
) -> str | None:
    """The credit note for the refund (issued here, with the invoice first if the order has
    none). In the reply's transaction: if the object store is down the reply is retried."""
    if store is None:
        return None
    document = await issue_credit_note(session, store, refund_id)
    return document.number
