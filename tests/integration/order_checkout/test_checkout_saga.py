"""Checkout through the saga with the real participants: the happy path, stock running out at
reservation, a declined card, duplicate checkouts under concurrency."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from services.order.tables import ORDER_HISTORY
from tests.integration.order_checkout.conftest import Shop

pytestmark = pytest.mark.integration


async def history(shop: Shop, order_id: str) -> list[str]:
    async with shop.orders_db.session() as s:
        rows = await s.execute(
            select(ORDER_HISTORY.c.to_status)
            .where(ORDER_HISTORY.c.order_id == uuid.UUID(order_id))
            .order_by(ORDER_HISTORY.c.id)
        )
        return list(rows.scalars())


async def test_checkout_reserves_authorizes_and_confirms(shop: Shop) -> None:
    variant = await shop.variant(price_minor=12900, stock=5)
    shopper = shop.shopper()
    await shop.add(shopper, variant, 2)
    r = await shop.order.get("/v1/cart", headers=shopper)
    expected = r.json()
    r = await shop.checkout(shopper, expected_total_minor=None)
    assert r.status_code == 201, r.text
    order: dict[str, Any] = r.json()
    assert order["status"] == "pending"
    assert r.headers["Location"] == f"/v1/orders/{order['id']}"
    # 2 x 129.00 + 19 % VAT + 4.90 shipping
    assert order["subtotal_minor"] == 25800
    assert order["tax_minor"] == 4902
    assert order["shipping_minor"] == 490
    assert order["total_minor"] == 25800 + 4902 + 490
    assert expected is not None

    settled = await shop.settled(order["id"], shopper)
    assert settled["status"] == "paid", settled
    assert await history(shop, order["id"]) == ["pending", "awaiting_payment", "paid"]
    assert await shop.stock(variant) == {"on_hand": 3, "reserved": 0}
    [reservation] = await shop.reservations(order["id"])
    assert reservation["status"] == "confirmed"
    r = await shop.order.get(f"/v1/orders/{order['id']}", headers=shopper)
    assert r.json()["lines"][0]["quantity"] == 2
    r = await shop.order.get("/v1/cart", headers=shopper)
    assert r.json()["lines"] == []  # the cart became the order


async def test_out_of_stock_at_reservation_cancels_and_reserves_nothing(shop: Shop) -> None:
    """Two shoppers see the last unit available and check out at once: the reservation
    decides — one order is paid, the other cancelled with nothing held for it."""
    variant = await shop.variant(stock=1)
    first, second = shop.shopper(), shop.shopper()
    await shop.add(first, variant)
    await shop.add(second, variant)
    a, b = await asyncio.gather(shop.checkout(first), shop.checkout(second))
    assert a.status_code == b.status_code == 201, (a.text, b.text)
    results = await asyncio.gather(
        shop.settled(a.json()["id"], first), shop.settled(b.json()["id"], second)
    )
    assert sorted(x["status"] for x in results) == ["cancelled", "paid"]
    lost = next(x for x in results if x["status"] == "cancelled")
    assert lost["failure_reason"].startswith("reserve_stock: insufficient-stock")
    assert await shop.reservations(lost["id"]) == []
    assert await shop.stock(variant) == {"on_hand": 0, "reserved": 0}


async def test_declined_card_releases_the_stock(shop: Shop) -> None:
    variant = await shop.variant(stock=4)
    shopper = shop.shopper()
    await shop.add(shopper, variant, 3)
    r = await shop.checkout(shopper, payment_method="pm_card_chargeDeclined")
    assert r.status_code == 201, r.text
    settled = await shop.settled(r.json()["id"], shopper)
    assert settled["status"] == "payment_failed"
    assert settled["failure_reason"].startswith("authorize_payment: card_declined")
    assert await history(shop, r.json()["id"]) == ["pending", "awaiting_payment", "payment_failed"]
    [reservation] = await shop.reservations(r.json()["id"])
    assert reservation["status"] == "released"
    assert await shop.stock(variant) == {"on_hand": 4, "reserved": 0}


async def test_duplicate_checkouts_make_one_order(shop: Shop) -> None:
    variant = await shop.variant(stock=5)
    shopper = shop.shopper()
    await shop.add(shopper, variant)
    key = str(uuid.uuid4())
    responses = await asyncio.gather(*(shop.checkout(shopper, key=key) for _ in range(8)))
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 7
    order_id = responses[0].json()["id"]
    assert (await shop.settled(order_id, shopper))["status"] == "paid"
    assert len(await shop.reservations(order_id)) == 1
    assert await shop.stock(variant) == {"on_hand": 4, "reserved": 0}
    # the same key with another body is refused, not a second order
    r = await shop.checkout(shopper, key=key, payment_method="pm_card_mastercard")
    assert r.status_code == 409
    assert r.json()["type"].endswith("/idempotency-key-reused")


async def test_checkout_refuses_what_it_cannot_honour(shop: Shop) -> None:
    shopper = shop.shopper()
    r = await shop.checkout(shopper)
    assert r.status_code == 409
    assert r.json()["type"].endswith("/cart-empty")
    r = await shop.order.post(
        "/v1/checkout",
        headers=shopper,
        json={"email": "a@example.com", "shipping_method": "standard"},
    )
    assert r.status_code in (422, 428)
    variant = await shop.variant(stock=2)
    await shop.add(shopper, variant)
    r = await shop.checkout(shopper, expected_total_minor=1)
    assert r.status_code == 409
    assert r.json()["type"].endswith("/total-changed")
    r = await shop.checkout(shopper, shipping_method="teleport")
    assert r.status_code == 409
    assert r.json()["type"].endswith("/checkout-blocked")
    # nothing was kept: the same key works once the problem is fixed
    key = str(uuid.uuid4())
    r = await shop.checkout(shopper, key=key, expected_total_minor=1)
    assert r.status_code == 409
    r = await shop.checkout(shopper, key=key)
    assert r.status_code == 201, r.text


async def test_status_stream_reports_each_change(shop: Shop) -> None:
    variant = await shop.variant(stock=2)
    shopper = shop.shopper()
    await shop.add(shopper, variant)
    r = await shop.checkout(shopper)
    order_id = r.json()["id"]
    seen: list[str] = []
    async with shop.order.stream("GET", f"/v1/orders/{order_id}/events", headers=shopper) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        async for line in stream.aiter_lines():
            if line.startswith("data: "):
                seen.append(line.split('"status":"')[1].split('"')[0])
    assert seen[-1] == "paid"
    assert seen == sorted(set(seen), key=seen.index)  # each status once, in order


async def test_other_shoppers_cannot_see_an_order(shop: Shop) -> None:
    variant = await shop.variant(stock=2)
    owner = shop.shopper()
    await shop.add(owner, variant)
    order_id = (await shop.checkout(owner)).json()["id"]
    stranger = shop.shopper()
    for path in ("", "/status"):
        r = await shop.order.get(f"/v1/orders/{order_id}{path}", headers=stranger)
        assert r.status_code == 404
    support = shop.minter.bearer(roles=["support"])
    assert (await shop.order.get(f"/v1/orders/{order_id}", headers=support)).status_code == 200
