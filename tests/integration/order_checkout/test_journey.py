"""A shopper's whole journey through the real services: cart → checkout → the saga pays the
order → its invoice PDF (read back) → staff fulfil and ship → the carrier's signed webhook says
delivered → the shopper's order history (the read model) shows it, with every status change
recorded."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pypdf import PdfReader

from services.order import tracking
from tests.integration.apps import eventually
from tests.integration.order_checkout.conftest import Shop

pytestmark = pytest.mark.integration


async def test_cart_to_delivered(shop: Shop) -> None:
    variant = await shop.variant(price_minor=4990, stock=10)
    shopper = shop.shopper()
    await shop.add(shopper, variant, 3)
    r = await shop.checkout(shopper, locale="de_DE")
    assert r.status_code == 201, r.text
    order: dict[str, Any] = r.json()
    # 3 x 49.90 = 149.70; VAT 19 % = 28.44 (28.443 rounded); shipping 4.90
    assert (order["subtotal_minor"], order["tax_minor"], order["total_minor"]) == (
        14970,
        2844,
        14970 + 2844 + 490,
    )
    assert (await shop.settled(order["id"], shopper))["status"] == "paid"

    async def invoiced() -> list[dict[str, Any]]:
        r = await shop.order.get(f"/v1/orders/{order['id']}/documents", headers=shopper)
        assert r.status_code == 200, r.text
        return [d for d in r.json() if d["kind"] == "invoice"]

    [invoice] = await eventually(invoiced, seconds=30, what="the invoice of the paid order")
    r = await shop.order.get(
        f"/v1/orders/{order['id']}/documents/{invoice['number']}", headers=shopper
    )
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pdf"
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(r.content)).pages)
    assert order["number"] in text
    assert invoice["number"] in text
    assert "183,04\xa0€" in text or "183,04 €" in text  # the total, formatted for de_DE

    staff = shop.minter.bearer(roles=["merchant"])
    r = await shop.order.post(f"/v1/orders/{order['id']}/fulfil", headers=staff)
    assert r.status_code == 200, r.text
    tracking_number = f"1Z{uuid.uuid4().hex[:12].upper()}"
    r = await shop.order.post(
        f"/v1/orders/{order['id']}/shipments",
        headers=staff,
        json={"carrier": "dhl", "tracking_number": tracking_number},
    )
    assert r.status_code in (200, 201), r.text

    body = json.dumps(
        {
            "event_id": f"evt-{uuid.uuid4().hex}",
            "tracking_number": tracking_number,
            "status": "delivered",
            "occurred_at": datetime.now(UTC).isoformat(),
            "location": "Berlin",
        }
    ).encode()
    secret = shop.order_ctx.settings.carrier_webhook_secret.get_secret_value()
    r = await shop.order.post(
        "/v1/carriers/dhl/events",
        content=body,
        headers={"Content-Type": "application/json", tracking.HEADER: tracking.sign(secret, body)},
    )
    assert r.status_code == 200, r.text
    r = await shop.order.get(f"/v1/orders/{order['id']}/status", headers=shopper)
    assert r.json()["status"] == "delivered"

    r = await shop.order.get(f"/v1/orders/{order['id']}/history", headers=shopper)
    moves = [entry["to_status"] for entry in r.json()["history"]]
    assert moves == ["pending", "awaiting_payment", "paid", "fulfilling", "shipped", "delivered"]

    async def in_history() -> dict[str, Any] | None:
        r = await shop.order.get("/v1/me/orders", headers=shopper)
        assert r.status_code == 200, r.text
        mine = [o for o in r.json()["orders"] if o["order_id"] == order["id"]]
        return mine[0] if mine and mine[0]["status"] == "delivered" else None

    await eventually(in_history, seconds=30, what="the read model to show the delivery")
