"""Returns: the customer asks, staff approve or reject, staff receive the goods → refund saga.

Return statuses: `requested` → `approved` | `rejected`; `requested`/`approved` → `received`
(receiving approves) → `refunded` | `refund_failed` (set by the refund saga, `refunds.py`).
Order statuses follow: delivered → return_requested (request), → delivered (reject),
→ returned (receive), → refunded (the saga completed).

A return may be asked for within `return_window_days` of the first delivery (the first history
row into `delivered`; a rejected return does not restart the window), for at most the quantity
bought minus what earlier returns brought back, per line.

The refund for returned units (exact integers): a line of `q` units at unit price `u` with line
discount `d` and line tax `t` is worth `V(n) = n·u - ⌊d·n/q⌋ + ⌊t·n/q⌋` for its first `n` units;
returning `k` units when `r` came back before refunds `V(r + k) - V(r)`. The shares telescope:
returning every unit, in any number of returns, refunds exactly the line's total
`q·u - d + t`. Shipping is not part of a line; staff refund it directly if they wish.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.http.errors import Conflict, NotFound, Problem
from services.order import orders, refunds
from services.order.settings import OrderSettings
from services.order.states import Actor, OrderStatus
from services.order.tables import ORDER_HISTORY, ORDER_LINES, RETURN_LINES, RETURNS


class ReturnNotFound(NotFound):
    slug, title = "return-not-found", "No such return"


class ReturnWindowClosed(Conflict):
    slug, title = "return-window-closed", "The return window has closed"


class ReturnExceedsBought(Conflict):
    slug, title = "return-exceeds-bought", "More units than were bought and not yet returned"


class UnknownLine(Problem):
    status, slug, title = 422, "unknown-order-line", "The order has no such line"


class IllegalReturnStatus(Conflict):
    slug, title = "illegal-return-transition", "The return cannot make this change"


@dataclass(frozen=True)
class Line:
    line_no: int
    quantity: int
    reason: str = ""


def line_value(
    *, quantity: int, unit_price_minor: int, discount_minor: int, tax_minor: int, units: int
) -> int:
    """`V(units)`: what the first `units` of a line are worth (see the module doc)."""
    q, n = quantity, units
    return n * unit_price_minor - (discount_minor * n) // q + (tax_minor * n) // q


def refund_for(line: dict[str, Any], already: int, units: int) -> int:
    """The refund for `units` more units of `line` after `already` came back."""
    args = {
        "quantity": line["quantity"],
        "unit_price_minor": line["unit_price_minor"],
        "discount_minor": line["discount_minor"],
        "tax_minor": line["tax_minor"],
    }
    return line_value(**args, units=already + units) - line_value(**args, units=already)


async def delivered_at(session: AsyncSession, order_id: uuid.UUID) -> datetime | None:
    return (  # type: ignore[no-any-return]
        await session.execute(
            select(func.min(ORDER_HISTORY.c.at))
            .where(ORDER_HISTORY.c.order_id == order_id)
            .where(ORDER_HISTORY.c.to_status == OrderStatus.DELIVERED.value)
        )
    ).scalar_one()


async def load(
    session: AsyncSession, return_id: uuid.UUID, *, lock: bool = False
) -> dict[str, Any]:
    query = select(RETURNS).where(RETURNS.c.id == return_id)
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).mappings().first()
    if row is None:
        raise ReturnNotFound(f"return {return_id} does not exist")
    out = dict(row)
    out["lines"] = [
        dict(r)
        for r in (
            await session.execute(
                select(RETURN_LINES)
                .where(RETURN_LINES.c.return_id == return_id)
                .order_by(RETURN_LINES.c.line_no)
            )
        ).mappings()
    ]
    return out


async def for_order(session: AsyncSession, order_id: uuid.UUID) -> list[dict[str, Any]]:
    ids = (
        await session.execute(
            select(RETURNS.c.id)
            .where(RETURNS.c.order_id == order_id)
            .order_by(RETURNS.c.created_at)
        )
    ).scalars()
    return [await load(session, i) for i in list(ids)]


async def request(
    session: AsyncSession,
    order_id: uuid.UUID,
    *,
    reason: str,
    lines: list[Line],
    actor: str,
    actor_kind: Actor,
    settings: OrderSettings,
    now: datetime | None = None,
) -> dict[str, Any]:
    order = await orders.load(session, order_id, lock=True)
    if order.status is OrderStatus.DELIVERED:
        since = await delivered_at(session, order_id)
        closes = (since or datetime.now(UTC)) + timedelta(days=settings.return_window_days)
        if (now or datetime.now(UTC)) > closes:
            raise ReturnWindowClosed(
                f"returns for this order closed on {closes.date().isoformat()} "
                f"({settings.return_window_days} days after delivery)",
                closed_at=closes.isoformat(),
            )
    bought = {b["line_no"]: b for b in await orders.lines(session, order_id)}
    for line in lines:
        found = bought.get(line.line_no)
        if found is None:
            raise UnknownLine(f"order {order.row['number']} has no line {line.line_no}")
        left = found["quantity"] - found["returned_quantity"]
        if line.quantity > left:
            raise ReturnExceedsBought(
                f"line {line.line_no}: {line.quantity} to return but only {left} can be",
                line_no=line.line_no,
                returnable=left,
            )
    # the state machine decides whether a return may be asked for now (delivered only)
    await orders.transition(
        session,
        order_id,
        OrderStatus.RETURN_REQUESTED,
        actor=actor,
        actor_kind=actor_kind,
        reason=f"return requested: {reason}",
    )
    return_id = uuid.uuid4()
    await session.execute(
        insert(RETURNS).values(
            id=return_id, order_id=order_id, status="requested", reason=reason, requested_by=actor
        )
    )
    await session.execute(
        insert(RETURN_LINES),
        [
            {
                "return_id": return_id,
                "line_no": x.line_no,
                "quantity": x.quantity,
                "reason": x.reason,
            }
            for x in lines
        ],
    )
    return await load(session, return_id)


def _require(ret: dict[str, Any], allowed: set[str], action: str) -> None:
    if ret["status"] not in allowed:
        raise IllegalReturnStatus(
            f"a return that is {ret['status']} cannot be {action}",
            status_now=ret["status"],
            allowed_from=sorted(allowed),
        )


async def approve(
    session: AsyncSession, return_id: uuid.UUID, *, actor: str, note: str
) -> dict[str, Any]:
    ret = await load(session, return_id, lock=True)
    _require(ret, {"requested"}, "approved")
    await session.execute(
        update(RETURNS)
        .where(RETURNS.c.id == return_id)
        .values(status="approved", decided_by=actor, note=note, updated_at=datetime.now(UTC))
    )
    return await load(session, return_id)


async def reject(
    session: AsyncSession, return_id: uuid.UUID, *, actor: str, note: str
) -> dict[str, Any]:
    ret = await load(session, return_id, lock=True)
    _require(ret, {"requested", "approved"}, "rejected")
    await orders.transition(
        session,
        ret["order_id"],
        OrderStatus.DELIVERED,
        actor=actor,
        actor_kind=Actor.STAFF,
        reason=f"return rejected: {note}" if note else "return rejected",
    )
    await session.execute(
        update(RETURNS)
        .where(RETURNS.c.id == return_id)
        .values(status="rejected", decided_by=actor, note=note, updated_at=datetime.now(UTC))
    )
    return await load(session, return_id)


async def receive(
    session: AsyncSession,
    return_id: uuid.UUID,
    *,
    actor: str,
    note: str,
    settings: OrderSettings,
) -> dict[str, Any]:
    """The goods are back: order → returned, lines counted back, the refund saga starts."""
    ret = await load(session, return_id, lock=True)
    _require(ret, {"requested", "approved"}, "received")
    order = await orders.transition(
        session,
        ret["order_id"],
        OrderStatus.RETURNED,
        actor=actor,
        actor_kind=Actor.STAFF,
        reason="returned goods received",
    )
    bought = {b["line_no"]: b for b in await orders.lines(session, order.id)}
    amount = 0
    saga_lines = []
    for rl in ret["lines"]:
        line = bought[rl["line_no"]]
        amount += refund_for(line, line["returned_quantity"], rl["quantity"])
        saga_lines.append({"variant_id": str(line["variant_id"]), "quantity": rl["quantity"]})
        await session.execute(
            update(ORDER_LINES)
            .where(ORDER_LINES.c.order_id == order.id)
            .where(ORDER_LINES.c.line_no == rl["line_no"])
            .values(returned_quantity=ORDER_LINES.c.returned_quantity + rl["quantity"])
        )
    if amount <= 0:  # nothing was paid for these units: no money moves, no restock saga
        await orders.transition(
            session,
            order.id,
            OrderStatus.REFUNDED,
            actor="system:refund",
            actor_kind=Actor.SYSTEM,
            reason="returned units were free: nothing to refund",
        )
        await session.execute(
            update(RETURNS)
            .where(RETURNS.c.id == return_id)
            .values(status="refunded", refund_minor=0, updated_at=datetime.now(UTC))
        )
        return await load(session, return_id)
    refund = await refunds.start(
        session,
        order,
        amount_minor=amount,
        reason=f"return {return_id}",
        requested_by=actor,
        settings=settings,
        return_id=return_id,
        lines=saga_lines,
    )
    await session.execute(
        update(RETURNS)
        .where(RETURNS.c.id == return_id)
        .values(
            status="received",
            decided_by=ret["decided_by"] or actor,
            note=note or ret["note"],
            refund_minor=amount,
            saga_id=refund["saga_id"],
            updated_at=datetime.now(UTC),
        )
    )
    return await load(session, return_id)
