"""A customer's orders from the read model, and an order's tracking."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select, tuple_

from kommerce.http.errors import Problem
from kommerce.http.responses import problems
from services.order import orders, tracking
from services.order.api.aftersale_models import (
    MyOrder,
    MyOrdersOut,
    TrackingOut,
    shipment_out,
)
from services.order.context import Ctx, Customer
from services.order.tables import CUSTOMER_ORDERS

router = APIRouter(tags=["my orders"], responses=problems(400, 401, 403, 422))
T = CUSTOMER_ORDERS


class BadCursor(Problem):
    slug, title = "invalid-cursor", "The cursor is not one this API gave out"


def _cursor(placed_at: datetime, order_id: uuid.UUID) -> str:
    raw = f"{placed_at.isoformat()}|{order_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _parse(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, order_id = raw.partition("|")
        placed = datetime.fromisoformat(at)
        if placed.tzinfo is None:
            raise ValueError("naive")
        return placed, uuid.UUID(order_id)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadCursor("pass the next_cursor of the previous page unchanged") from exc


def _mine(r: Any) -> MyOrder:
    summary = r["summary"] or {}
    return MyOrder(
        order_id=r["order_id"],
        number=r["number"],
        status=r["status"],
        currency=r["currency"],
        total_minor=r["total_minor"],
        refunded_minor=r["refunded_minor"],
        item_count=r["item_count"],
        placed_at=r["placed_at"],
        estimated_delivery=r["estimated_delivery"],
        lines=summary.get("lines", []),
        tracking=summary.get("tracking"),
    )


@router.get("/v1/me/orders", response_model=MyOrdersOut, responses=problems(400))
async def my_orders(
    principal: Customer,
    c: Ctx,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> MyOrdersOut:
    """The caller's orders, newest first, from the read model (it follows the events within
    moments of each change)."""
    try:
        customer = uuid.UUID(principal.user_id)
    except ValueError:
        return MyOrdersOut(orders=[], next_cursor=None)
    query = select(T).where(T.c.customer_id == customer)
    if cursor:
        placed, order_id = _parse(cursor)
        query = query.where(tuple_(T.c.placed_at, T.c.order_id) < tuple_(placed, order_id))
    query = query.order_by(T.c.placed_at.desc(), T.c.order_id.desc()).limit(limit + 1)
    async with c.db.session() as session:
        rows = list((await session.execute(query)).mappings())
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if more else None
    return MyOrdersOut(
        orders=[_mine(r) for r in rows],
        next_cursor=_cursor(last["placed_at"], last["order_id"]) if last else None,
    )


@router.get("/v1/orders/{order_id}/tracking", response_model=TrackingOut, responses=problems(404))
async def order_tracking(order_id: uuid.UUID, principal: Customer, c: Ctx) -> TrackingOut:
    """The order's shipments with every carrier event (oldest first) and the estimated delivery
    (the owner, or staff with orders:read)."""
    async with c.db.session() as session:
        order = await orders.load_visible(session, order_id, principal)
        shipments = await tracking.tracking(session, order_id)
    return TrackingOut(
        order_id=order.id,
        status=order.status.value,
        estimated_delivery=order.row["estimated_delivery"],
        shipments=[shipment_out(s) for s in shipments],
    )
