"""Checkout and a shopper's view of an order: create, read, poll or subscribe to its status."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import StreamingResponse

from kommerce.data import idempotency
from kommerce.http.responses import problems
from services.order import orders
from services.order.context import Ctx, Customer
from services.order.models import CheckoutIn, OrderOut, OrderStatusOut, order_out
from services.order.states import FINAL, OrderStatus

router = APIRouter(tags=["orders"], responses=problems(401, 404, 422))

# Statuses after which the checkout saga has nothing more to do: the stream ends there.
SETTLED = FINAL | {OrderStatus.PAID}


IdempotencyKey = idempotency.IdempotencyKey


@router.post(
    "/v1/checkout",
    status_code=status.HTTP_201_CREATED,
    response_model=OrderOut,
    responses=problems(400, 409, 428),
)
async def checkout(
    body: CheckoutIn,
    principal: Customer,
    c: Ctx,
    response: Response,
    key: IdempotencyKey,
) -> OrderOut:
    """Turn the caller's cart into an order and start the checkout saga (reserve stock →
    authorize payment → confirm). The order starts `pending`; poll its status or subscribe to
    its events. Repeating the request with the same `Idempotency-Key` and body returns the same
    order (header `Idempotent-Replayed: true`); the same key with another body is a 409."""
    async with c.db.session() as session:
        placed = await c.checkout.place(session, principal, key, body)
    if placed.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    else:  # committed: the cart has become the order
        await c.checkout.carts.clear(principal.user_id)
    response.status_code = placed.status_code
    response.headers["Location"] = f"/v1/orders/{placed.body['id']}"
    return OrderOut.model_validate(placed.body)


@router.get("/v1/orders/{order_id}", response_model=OrderOut)
async def get_order(order_id: uuid.UUID, principal: Customer, c: Ctx) -> OrderOut:
    """The order with its lines (the owner, or staff with orders:read)."""
    async with c.db.session() as session:
        order = await orders.load_visible(session, order_id, principal)
        lines = await orders.lines(session, order_id)
    return order_out(order.row, lines)


def _status(order: orders.Order) -> OrderStatusOut:
    r = order.row
    return OrderStatusOut(
        id=r["id"],
        number=r["number"],
        status=r["status"],
        version=r["version"],
        failure_reason=r["failure_reason"],
        updated_at=r["updated_at"],
        final=order.status in SETTLED,
    )


@router.get("/v1/orders/{order_id}/status", response_model=OrderStatusOut)
async def order_status(order_id: uuid.UUID, principal: Customer, c: Ctx) -> OrderStatusOut:
    """The order's status now (cheap to poll while the checkout saga runs)."""
    async with c.db.session() as session:
        return _status(await orders.load_visible(session, order_id, principal))


@router.get(
    "/v1/orders/{order_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def order_events(
    order_id: uuid.UUID, principal: Customer, c: Ctx, request: Request
) -> StreamingResponse:
    """Server-sent events: one `status` event now and one per change, until the order is paid
    or final (or `order_stream_seconds` pass). Each event's data is the status JSON."""
    async with c.db.session() as session:
        first = await orders.load_visible(session, order_id, principal)

    async def stream() -> AsyncIterator[str]:
        current = first
        loop = asyncio.get_running_loop()
        deadline = loop.time() + c.settings.order_stream_seconds
        version = -1
        while True:
            if current.row["version"] != version:
                version = current.row["version"]
                body = _status(current).model_dump_json()
                yield f"id: {version}\nevent: status\ndata: {body}\n\n"
            if current.status in SETTLED or loop.time() > deadline:
                return
            if await request.is_disconnected():
                return
            await asyncio.sleep(c.settings.order_stream_poll_seconds)
            async with c.db.session() as session:
                current = await orders.load(session, order_id)

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )
