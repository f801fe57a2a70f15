"""Returns (customer asks; staff approve, reject, receive) and refunds (orders:refund)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status
from sqlalchemy import select

from kommerce.http.responses import problems
from services.order import orders, refunds, returns
from services.order.api.aftersale_models import (
    DecisionIn,
    RefundIn,
    RefundOut,
    ReturnIn,
    ReturnOut,
    refund_out,
    return_out,
)
from services.order.context import Ctx, Customer, Fulfiller, Refunder
from services.order.states import Actor
from services.order.tables import REFUNDS

router = APIRouter(tags=["returns"], responses=problems(400, 401, 403, 404, 409, 422))


@router.post(
    "/v1/orders/{order_id}/returns",
    response_model=ReturnOut,
    status_code=status.HTTP_201_CREATED,
)
async def request_return(
    order_id: uuid.UUID, body: ReturnIn, principal: Customer, c: Ctx
) -> ReturnOut:
    """The customer (or staff for them) asks to return units of a delivered order, within
    `return_window_days` of delivery (409 return-window-closed) and at most what was bought
    and not yet returned per line (409 return-exceeds-bought)."""
    async with c.db.session() as session:
        order = await orders.load(session, order_id)
        orders.visible_to(order, principal, staff_permission="orders:fulfil")
        staff = str(order.customer_id) != principal.user_id
        created = await returns.request(
            session,
            order_id,
            reason=body.reason,
            lines=[returns.Line(x.line_no, x.quantity, x.reason) for x in body.lines],
            actor=principal.user_id,
            actor_kind=Actor.STAFF if staff else Actor.CUSTOMER,
            settings=c.settings,
        )
    return return_out(created)


@router.get("/v1/orders/{order_id}/returns", response_model=list[ReturnOut])
async def order_returns(order_id: uuid.UUID, principal: Customer, c: Ctx) -> list[ReturnOut]:
    async with c.db.session() as session:
        await orders.load_visible(session, order_id, principal)
        found = await returns.for_order(session, order_id)
    return [return_out(r) for r in found]


@router.get("/v1/returns/{return_id}", response_model=ReturnOut)
async def get_return(return_id: uuid.UUID, principal: Customer, c: Ctx) -> ReturnOut:
    async with c.db.session() as session:
        found = await returns.load(session, return_id)
        order = await orders.load(session, found["order_id"])
        try:
            orders.visible_to(order, principal)
        except orders.OrderNotFound as exc:
            raise returns.ReturnNotFound(f"return {return_id} does not exist") from exc
    return return_out(found)


@router.post("/v1/returns/{return_id}/approve", response_model=ReturnOut)
async def approve(
    return_id: uuid.UUID, principal: Fulfiller, c: Ctx, body: DecisionIn | None = None
) -> ReturnOut:
    async with c.db.session() as session:
        done = await returns.approve(
            session, return_id, actor=principal.user_id, note=body.note if body else ""
        )
    return return_out(done)


@router.post("/v1/returns/{return_id}/reject", response_model=ReturnOut)
async def reject(
    return_id: uuid.UUID, principal: Fulfiller, c: Ctx, body: DecisionIn | None = None
) -> ReturnOut:
    """The return is refused: the order goes back to delivered."""
    async with c.db.session() as session:
        done = await returns.reject(
            session, return_id, actor=principal.user_id, note=body.note if body else ""
        )
    return return_out(done)


@router.post(
    "/v1/returns/{return_id}/receive",
    response_model=ReturnOut,
    status_code=status.HTTP_202_ACCEPTED,
)
async def receive(
    return_id: uuid.UUID, principal: Fulfiller, c: Ctx, body: DecisionIn | None = None
) -> ReturnOut:
    """The goods are back (order → returned): the refund saga restocks them and refunds their
    value; the order becomes refunded when it completes."""
    async with c.db.session() as session:
        done = await returns.receive(
            session,
            return_id,
            actor=principal.user_id,
            note=body.note if body else "",
            settings=c.settings,
        )
    return return_out(done)


@router.post(
    "/v1/orders/{order_id}/refunds",
    response_model=RefundOut,
    status_code=status.HTTP_202_ACCEPTED,
)
async def refund(order_id: uuid.UUID, body: RefundIn, principal: Refunder, c: Ctx) -> RefundOut:
    """A refund without a return (partial or full): at most the total minus every refund not
    failed (409 refund-exceeds-paid). It is pending until the payment provider confirms."""
    async with c.db.session() as session:
        created = await refunds.refund_directly(
            session,
            order_id,
            amount_minor=body.amount_minor,
            reason=body.reason,
            actor=principal.user_id,
            settings=c.settings,
        )
    return refund_out(created)


@router.get("/v1/orders/{order_id}/refunds", response_model=list[RefundOut])
async def order_refunds(order_id: uuid.UUID, principal: Customer, c: Ctx) -> list[RefundOut]:
    async with c.db.session() as session:
        await orders.load_visible(session, order_id, principal)
        rows = await session.execute(
            select(REFUNDS).where(REFUNDS.c.order_id == order_id).order_by(REFUNDS.c.created_at)
        )
        return [refund_out(dict(r)) for r in rows.mappings()]
