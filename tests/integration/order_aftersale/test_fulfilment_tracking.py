"""Staff moves after payment and the signed carrier webhook, against the real order app."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from kommerce.events.saga import SAGAS
from services.order.tables import TRACKING_EVENTS
from tests.integration.apps import eventually
from tests.integration.order_aftersale.conftest import Running

pytestmark = pytest.mark.integration


def event(tracking_number: str, status: str, at: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": f"evt-{uuid.uuid4()}",
        "tracking_number": tracking_number,
        "status": status,
        "occurred_at": at.isoformat(),
        **extra,
    }


async def test_fulfil_ship_and_carrier_delivery(svc: Running) -> None:
    order = await svc.paid_order()
    oid = order["id"]
    r = await svc.client.post(f"/v1/orders/{oid}/fulfil", headers=svc.merchant)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "fulfilling"
    r = await svc.client.post(
        f"/v1/orders/{oid}/shipments",
        json={"carrier": "dhl", "tracking_number": "TRK" + uuid.uuid4().hex[:10]},
        headers=svc.merchant,
    )
    assert r.status_code == 201, r.text
    shipped = r.json()
    number = shipped["shipment"]["tracking_number"]
    # the shipping method promises 2-4 days: the latest day counts
    assert (
        shipped["estimated_delivery"] == (datetime.now(UTC).date() + timedelta(days=4)).isoformat()
    )
    [notice] = await svc.emitted("order.shipped", oid)
    assert notice["tracking_number"] == number
    assert notice["email"] == "ada@example.com"

    now = datetime.now(UTC)
    later = (now.date() + timedelta(days=6)).isoformat()
    r = await svc.carrier(
        "dhl",
        event(
            number,
            "in_transit",
            now - timedelta(hours=2),
            location="Leipzig hub",
            estimated_delivery=later,
        ),
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "applied": True,
        "shipment_status": "in_transit",
        "order_status": "shipped",
    }, r.text
    r = await svc.carrier("dhl", event(number, "delivered", now, location="Berlin"))
    assert r.status_code == 200, r.text
    assert r.json()["order_status"] == "delivered"

    r = await svc.client.get(f"/v1/orders/{oid}/tracking", headers=order["headers"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "delivered"
    assert body["estimated_delivery"] == later  # the carrier's update reached the order
    [shipment] = body["shipments"]
    assert shipment["status"] == "delivered"
    assert shipment["delivered_at"]
    assert [e["status"] for e in shipment["events"]] == ["in_transit", "delivered"]

    r = await svc.client.get(f"/v1/orders/{oid}/history", headers=order["headers"])
    assert r.status_code == 200, r.text
    moves = [(h["from_status"], h["to_status"], h["actor"]) for h in r.json()["history"]]
    assert moves[-3:] == [
        ("paid", "fulfilling", moves[-3][2]),
        ("fulfilling", "shipped", moves[-3][2]),
        ("shipped", "delivered", "system:carrier:dhl"),
    ]
    [delivered] = await svc.emitted("order.delivered", oid)
    assert delivered["number"] == order["number"]
    changes = await svc.emitted("order.status_changed", oid)
    assert [c["status"] for c in changes] == [
        "pending",
        "awaiting_payment",
        "paid",
        "fulfilling",
        "shipped",
        "delivered",
    ]


async def test_signatures_are_checked(svc: Running) -> None:
    order = await svc.shipped_order()
    body = event(order["tracking_number"], "in_transit", datetime.now(UTC))
    cases: list[tuple[dict[str, Any], str]] = [
        ({"secret": "not-the-secret"}, "does not match"),
        ({"tamper": True}, "does not match"),
        ({"timestamp": int(time.time()) - 3600}, "from now"),
        ({"timestamp": int(time.time()) + 3600}, "from now"),
    ]
    for kwargs, why in cases:
        r = await svc.carrier("dhl", body, **kwargs)
        assert r.status_code == 400, r.text
        assert r.json()["type"].endswith("/invalid-signature")
        assert why in r.json()["detail"]
    r = await svc.client.post("/v1/carriers/dhl/events", json=body)
    assert r.status_code == 400
    assert "missing" in r.json()["detail"]
    r = await svc.client.post(
        "/v1/carriers/dhl/events", json=body, headers={"Kommerce-Carrier-Signature": "v1=abc"}
    )
    assert r.status_code == 400
    async with svc.ctx.db.session() as s:
        count = (
            await s.execute(
                select(func.count()).where(TRACKING_EVENTS.c.carrier_event_id == body["event_id"])
            )
        ).scalar_one()
    assert count == 0


async def test_replayed_event_applies_once_and_order_follows_occurred_at(svc: Running) -> None:
    order = await svc.shipped_order()
    number, now = order["tracking_number"], datetime.now(UTC)
    delivered = event(number, "delivered", now)
    first = await svc.carrier("dhl", delivered)
    again = await svc.carrier("dhl", delivered)
    assert first.json()["applied"] is True
    assert again.status_code == 200, again.text
    assert again.json()["applied"] is False
    # a late in_transit (it happened before the delivery) moves nothing back
    late = await svc.carrier("dhl", event(number, "in_transit", now - timedelta(hours=5)))
    assert late.status_code == 200
    assert late.json()["shipment_status"] == "delivered"
    assert await svc.status(order["id"]) == "delivered"
    assert len(await svc.emitted("order.delivered", order["id"])) == 1
    r = await svc.client.get(f"/v1/orders/{order['id']}/tracking", headers=svc.support)
    statuses = [e["status"] for e in r.json()["shipments"][0]["events"]]
    assert statuses == ["in_transit", "delivered"]  # history by occurred_at, each event once


async def test_unknown_tracking_number_is_404(svc: Running) -> None:
    r = await svc.carrier(
        "dhl", event("NOPE" + uuid.uuid4().hex[:8], "in_transit", datetime.now(UTC))
    )
    assert r.status_code == 404
    assert r.json()["type"].endswith("/unknown-tracking-number")
    order = await svc.shipped_order()  # the number exists, but at another carrier
    r = await svc.carrier("ups", event(order["tracking_number"], "in_transit", datetime.now(UTC)))
    assert r.status_code == 404


async def test_illegal_transitions_name_the_allowed_moves(svc: Running) -> None:
    order = await svc.paid_order()
    r = await svc.client.post(
        f"/v1/orders/{order['id']}/shipments",
        json={"carrier": "dhl", "tracking_number": "TRK" + uuid.uuid4().hex[:10]},
        headers=svc.merchant,
    )
    assert r.status_code == 409, r.text
    problem = r.json()
    assert problem["type"].endswith("/illegal-transition")
    assert problem["allowed"] == ["cancelled", "fulfilling"]
    assert problem["status_now"] == "paid"
    # a shopper may not fulfil, even their own order
    r = await svc.client.post(f"/v1/orders/{order['id']}/fulfil", headers=order["headers"])
    assert r.status_code == 403
    delivered = await svc.delivered_order()
    r = await svc.client.post(f"/v1/orders/{delivered['id']}/cancel", headers=delivered["headers"])
    assert r.status_code == 409
    assert r.json()["allowed"] == ["return_requested"]


async def test_customer_cancels_a_paid_order(svc: Running) -> None:
    order = await svc.paid_order(real=True)
    p = svc.participants
    before = [await p.on_hand(v) for v in order["variants"]]
    stranger = svc.shopper(uuid.uuid4())
    r = await svc.client.post(f"/v1/orders/{order['id']}/cancel", headers=stranger)
    assert r.status_code == 404  # another customer's order does not exist for them
    r = await svc.client.post(
        f"/v1/orders/{order['id']}/cancel",
        json={"reason": "changed my mind"},
        headers=order["headers"],
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    [cancelled] = await svc.emitted("order.cancelled", order["id"])
    assert cancelled["reason"] == "changed my mind"
    assert cancelled["status"] == "cancelled"

    async def saga_done() -> str | None:
        async with svc.ctx.db.session() as s:
            status = (
                await s.execute(
                    select(SAGAS.c.status).where(
                        SAGAS.c.type == "cancel", SAGAS.c.data["order_id"].astext == order["id"]
                    )
                )
            ).scalar_one()
        return status if status in ("completed", "compensated", "failed") else None

    assert await eventually(saga_done, what="the cancel saga finishes") == "completed"
    # the authorization is voided and the sold units are back on hand
    assert (await p.payment(order["id"]))["status"] == "voided"
    after = [await p.on_hand(v) for v in order["variants"]]
    assert [a - b for a, b in zip(after, before, strict=True)] == [2, 1]


async def test_history_is_for_the_owner_and_staff(svc: Running) -> None:
    order = await svc.paid_order()
    path = f"/v1/orders/{order['id']}/history"
    assert (await svc.client.get(path, headers=order["headers"])).status_code == 200
    assert (await svc.client.get(path, headers=svc.support)).status_code == 200
    assert (await svc.client.get(path, headers=svc.shopper(uuid.uuid4()))).status_code == 404
    assert (await svc.client.get(path)).status_code == 401
