"""Loading orders and moving them through the state machine, with history and events.

`transition()` is the one way an order's status changes: it locks the order, checks the move
(`states.check`), updates status and version, appends the history row and records
`order.status_changed` in the outbox, all in the caller's transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.auth.claims import Principal
from kommerce.http.errors import NotFound
from services.order import events
from services.order.states import Actor, OrderStatus, check
from services.order.tables import ORDER_HISTORY, ORDER_LINES, ORDERS


class OrderNotFound(NotFound):
    slug, title = "order-not-found", "No such order"


@dataclass
class Order:
    """An order row (the columns of `orders`), as the service passes it around."""

    row: dict[str, Any]

    @property
    def id(self) -> uuid.UUID:
        return self.row["id"]  # type: ignore[no-any-return]

    @property
    def status(self) -> OrderStatus:
        return OrderStatus(self.row["status"])

    @property
    def customer_id(self) -> uuid.UUID:
        return self.row["customer_id"]  # type: ignore[no-any-return]


async def load(session: AsyncSession, order_id: uuid.UUID, *, lock: bool = False) -> Order:
    query = select(ORDERS).where(ORDERS.c.id == order_id)
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).mappings().first()
    if row is None:
        raise OrderNotFound(f"order {order_id} does not exist")
    return Order(dict(row))


def status_changed_payload(
    order: Order, previous: str | None, actor: str, reason: str
) -> dict[str, Any]:
    r = order.row
    delivery: date | None = r.get("estimated_delivery")
    return {
        "order_id": str(r["id"]),
        "customer_id": str(r["customer_id"]),
        "number": r["number"],
        "status": r["status"],
        "previous": previous,
        "version": r["version"],
        "currency": r["currency"],
        "total_minor": r["total_minor"],
        "refunded_minor": r["refunded_minor"],
        "actor": actor,
        "reason": reason,
        "estimated_delivery": delivery.isoformat() if delivery else None,
        "changed_at": datetime.now(UTC),
    }


async def record_creation(
    session: AsyncSession,
    order: Order,
    *,
    actor: str,
    also: Sequence[tuple[str, dict[str, Any]]] = (),
) -> None:
    """History and `order.status_changed` (plus the events in `also`, in one INSERT) for a new
    order (status `pending`, version 1)."""
    await session.execute(
        insert(ORDER_HISTORY).values(
            order_id=order.id,
            from_status=None,
            to_status=order.row["status"],
            actor=actor,
            reason="order placed",
        )
    )
    created = status_changed_payload(order, None, actor, "order placed")
    await events.emit.many(session, [(events.STATUS_CHANGED, created), *also])


async def transition(
    session: AsyncSession,
    order_id: uuid.UUID,
    target: OrderStatus,
    *,
    actor: str,
    actor_kind: Actor,
    reason: str = "",
    changes: dict[str, Any] | None = None,
) -> Order:
    """Move the order to `target` (raises `IllegalTransition`, `OrderNotFound`).

    `changes` are further columns set in the same UPDATE (e.g. `payment_id`, `failure_reason`).
    Returns the order as it is after the change."""
    order = await load(session, order_id, lock=True)
    previous = order.status
    check(previous, target, actor_kind)
    row = (
        (
            await session.execute(
                update(ORDERS)
                .where(ORDERS.c.id == order_id)
                .values(
                    status=target.value,
                    version=ORDERS.c.version + 1,
                    updated_at=datetime.now(UTC),
                    **(changes or {}),
                )
                .returning(*ORDERS.c)
            )
        )
        .mappings()
        .one()
    )
    order = Order(dict(row))
    await session.execute(
        insert(ORDER_HISTORY).values(
            order_id=order_id,
            from_status=previous.value,
            to_status=target.value,
            actor=actor,
            reason=reason,
        )
    )
    await events.emit(
        session,
        events.STATUS_CHANGED,
        status_changed_payload(order, previous.value, actor, reason),
    )
    return order


async def history(session: AsyncSession, order_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(ORDER_HISTORY)
        .where(ORDER_HISTORY.c.order_id == order_id)
        .order_by(ORDER_HISTORY.c.id)
    )
    return [dict(r) for r in rows.mappings()]


def visible_to(
    order: Order, principal: Principal, *, staff_permission: str = "orders:read"
) -> None:
    """The owner and staff with `staff_permission` see an order; to anyone else it does not
    exist (404, not 403: an order id must not reveal that the order exists)."""
    if str(order.customer_id) != principal.user_id and not principal.can(staff_permission):
        raise OrderNotFound(f"order {order.id} does not exist")


async def load_visible(session: AsyncSession, order_id: uuid.UUID, principal: Principal) -> Order:
    order = await load(session, order_id)
    visible_to(order, principal)
    return order


async def lines(session: AsyncSession, order_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(ORDER_LINES)
        .where(ORDER_LINES.c.order_id == order_id)
        .order_by(ORDER_LINES.c.line_no)
    )
    return [dict(r) for r in rows.mappings()]
