"""Carrier tracking webhooks: signed events that move a shipment (and its order) along.

Signature (the scheme Stripe uses): the carrier sends

    Kommerce-Carrier-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{raw body}")>

over the exact bytes of the body. We recompute the MAC with `carrier_webhook_secret`, compare
in constant time (`hmac.compare_digest`; several `v1=` entries are allowed, e.g. while a secret
rotates) and refuse a timestamp further than `carrier_webhook_tolerance_seconds` from now (a
replayed capture). Anything wrong → 400 `invalid-signature`, the body is not read further.

Events are applied once: `(carrier, carrier_event_id)` is unique, a replay answers 200 and
changes nothing. Events may arrive out of order: the shipment's status is the status of its
latest event by `occurred_at`, and `delivered` is final (a late `in_transit` is recorded in the
history but moves nothing back). The first `delivered` moves the order shipped → delivered
(actor `system:carrier:<carrier>`) and records `order.delivered`. An `estimated_delivery` on
the newest event updates the shipment and the order.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.http.errors import NotFound, Problem
from services.order import events, orders
from services.order.fulfilment import notification
from services.order.states import Actor, OrderStatus
from services.order.tables import ORDERS, SHIPMENTS, TRACKING_EVENTS

HEADER = "Kommerce-Carrier-Signature"
STATUSES = ("label_created", "in_transit", "out_for_delivery", "delivered", "exception")


class InvalidSignature(Problem):
    status, slug, title = 400, "invalid-signature", "The webhook signature is not valid"


class UnknownShipment(NotFound):
    slug, title = "unknown-tracking-number", "No shipment has this tracking number"


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value for `body` (what a carrier computes; tests and tools use it)."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(
    secret: str, body: bytes, header: str | None, *, tolerance: int, now: float | None = None
) -> None:
    """Raise `InvalidSignature` unless `header` signs `body` with `secret` recently enough."""
    if not header:
        raise InvalidSignature(f"the {HEADER} header is missing")
    timestamp: int | None = None
    macs: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif key == "v1":
            macs.append(value)
    if timestamp is None or not macs:
        raise InvalidSignature(f"{HEADER} must be t=<unix seconds>,v1=<hex HMAC-SHA256>")
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        raise InvalidSignature(f"the signature timestamp is more than {tolerance} s from now")
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    if not any(hmac.compare_digest(expected.encode(), mac.encode()) for mac in macs):
        raise InvalidSignature("the signature does not match the body")


@dataclass(frozen=True)
class CarrierEvent:
    carrier: str
    event_id: str
    tracking_number: str
    status: str
    occurred_at: datetime
    location: str = ""
    description: str = ""
    estimated_delivery: date | None = None


@dataclass(frozen=True)
class Applied:
    duplicate: bool  # the event was seen before: nothing changed
    shipment_status: str
    order_status: str


async def apply(session: AsyncSession, e: CarrierEvent) -> Applied:
    shipment = (
        (
            await session.execute(
                select(SHIPMENTS)
                .where(SHIPMENTS.c.carrier == e.carrier)
                .where(SHIPMENTS.c.tracking_number == e.tracking_number)
                .with_for_update()
            )
        )
        .mappings()
        .first()
    )
    if shipment is None:
        raise UnknownShipment(f"{e.carrier} has no shipment {e.tracking_number} with us")
    newest_before = (
        await session.execute(
            select(func.max(TRACKING_EVENTS.c.occurred_at)).where(
                TRACKING_EVENTS.c.shipment_id == shipment["id"]
            )
        )
    ).scalar_one()
    inserted = (
        await session.execute(
            insert(TRACKING_EVENTS)
            .values(
                shipment_id=shipment["id"],
                carrier=e.carrier,
                carrier_event_id=e.event_id,
                status=e.status,
                occurred_at=e.occurred_at,
                location=e.location,
                description=e.description,
            )
            .on_conflict_do_nothing(constraint="tracking_events_once")
            .returning(TRACKING_EVENTS.c.id)
        )
    ).first()
    order = await orders.load(session, shipment["order_id"])
    if inserted is None:
        return Applied(True, shipment["status"], order.status.value)

    changes: dict[str, Any] = {}
    newest = newest_before is None or e.occurred_at >= newest_before
    if shipment["status"] != "delivered" and (newest or e.status == "delivered"):
        changes["status"] = e.status
    if newest and e.estimated_delivery is not None:
        changes["estimated_delivery"] = e.estimated_delivery
    if e.status == "delivered" and shipment["delivered_at"] is None:
        changes["delivered_at"] = e.occurred_at
    if changes:
        await session.execute(
            update(SHIPMENTS).where(SHIPMENTS.c.id == shipment["id"]).values(**changes)
        )
    if e.status == "delivered" and order.status is OrderStatus.SHIPPED:
        order = await orders.transition(
            session,
            order.id,
            OrderStatus.DELIVERED,
            actor=f"system:carrier:{e.carrier}",
            actor_kind=Actor.SYSTEM,
            reason=f"{e.carrier} delivered {e.tracking_number}"
            + (f" at {e.location}" if e.location else ""),
        )
        await events.emit(
            session, events.DELIVERED, notification(order) | {"delivered_at": e.occurred_at}
        )
    elif "estimated_delivery" in changes and order.status is OrderStatus.SHIPPED:
        await session.execute(
            update(ORDERS)
            .where(ORDERS.c.id == order.id)
            .values(estimated_delivery=e.estimated_delivery)
        )
    return Applied(False, changes.get("status", shipment["status"]), order.status.value)


async def tracking(session: AsyncSession, order_id: uuid.UUID) -> list[dict[str, Any]]:
    """The order's shipments, each with its events oldest first."""
    shipments = [
        dict(r)
        for r in (
            await session.execute(
                select(SHIPMENTS)
                .where(SHIPMENTS.c.order_id == order_id)
                .order_by(SHIPMENTS.c.created_at)
            )
        ).mappings()
    ]
    for s in shipments:
        s["events"] = [
            dict(r)
            for r in (
                await session.execute(
                    select(TRACKING_EVENTS)
                    .where(TRACKING_EVENTS.c.shipment_id == s["id"])
                    .order_by(TRACKING_EVENTS.c.occurred_at, TRACKING_EVENTS.c.id)
                )
            ).mappings()
        ]
    return shipments
