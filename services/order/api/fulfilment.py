"""Staff order operations after payment (orders:fulfil), cancellation and the order history."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from kommerce.http.responses import problems
from services.order import fulfilment, orders
from services.order.api.aftersale_models import (
    CancelIn,
    HistoryEntry,
    HistoryOut,
    Moved,
    ShipmentIn,
    ShippedOut,
    moved,
    shipment_out,
)
from services.order.context import Ctx, Customer, Fulfiller
from services.order.states import Actor

router = APIRouter(tags=["fulfilment"], responses=problems(400, 401, 403, 404, 409, 422))


@router.post("/v1/orders/{order_id}/fulfil", response_model=Moved)
async def fulfil(order_id: uuid.UUID, principal: Fulfiller, c: Ctx) -> Moved:
    """paid → fulfilling: picking and packing starts."""
    async with c.db.session() as session:
        order = await fulfilment.fulfil(session, order_id, actor=principal.user_id)
    return moved(order.row)


@router.post(
    "/v1/orders/{order_id}/shipments",
    response_model=ShippedOut,
    status_code=status.HTTP_201_CREATED,
)
async def ship(order_id: uuid.UUID, body: ShipmentIn, principal: Fulfiller, c: Ctx) -> ShippedOut:
    """fulfilling → shipped: the parcel is with the carrier (records `order.shipped`). The
    estimated delivery is the carrier's, else the shipping method's `max_days` from today."""
    async with c.db.session() as session:
        order, shipment = await fulfilment.ship(
            session,
            order_id,
            actor=principal.user_id,
            carrier=body.carrier,
            tracking_number=body.tracking_number,
            tracking_url=body.tracking_url,
            estimated_delivery=body.estimated_delivery,
        )
    shipment |= {"delivered_at": None}
    return ShippedOut(**moved(order.row).model_dump(), shipment=shipment_out(shipment))


@router.post("/v1/orders/{order_id}/cancel", response_model=Moved)
async def cancel(
    order_id: uuid.UUID, principal: Customer, c: Ctx, body: CancelIn | None = None
) -> Moved:
    """paid → cancelled, by the customer who owns the order or staff (orders:fulfil). The
    payment authorization is voided and the units go back to stock by the `cancel` saga."""
    async with c.db.session() as session:
        order = await orders.load(session, order_id)
        orders.visible_to(order, principal, staff_permission="orders:fulfil")
        staff = principal.can("orders:fulfil")
        order = await fulfilment.cancel(
            session,
            order_id,
            actor=principal.user_id,
            actor_kind=Actor.STAFF if staff else Actor.CUSTOMER,
            reason=(body.reason if body else "")
            or ("cancelled by staff" if staff else "cancelled by the customer"),
            settings=c.settings,
        )
    return moved(order.row)


@router.get("/v1/orders/{order_id}/history", response_model=HistoryOut)
async def history(order_id: uuid.UUID, principal: Customer, c: Ctx) -> HistoryOut:
    """Every status change: when, from, to, who (a user id or system:<component>), why."""
    async with c.db.session() as session:
        order = await orders.load_visible(session, order_id, principal)
        rows = await orders.history(session, order_id)
    return HistoryOut(
        order_id=order.id,
        status=order.status.value,
        history=[
            HistoryEntry(
                at=r["at"],
                from_status=r["from_status"],
                to_status=r["to_status"],
                actor=r["actor"],
                reason=r["reason"],
            )
            for r in rows
        ],
    )
