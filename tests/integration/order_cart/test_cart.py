"""The cart API end to end: guest and user carts, limits, sliding expiry, merge on sign-in,
prices shown but not applied until accepted, concurrent adds, availability from inventory."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from services.order.cart import Availability, Cart, CartLine, CartStore, guest_owner, quote
from tests.integration.order_cart.conftest import MAX_LINES, MAX_QUANTITY, TTL, Shop, guest

pytestmark = pytest.mark.integration


async def test_a_guest_cart_lives_by_its_token(shop: Shop) -> None:
    [a, b] = await shop.product([1999, 2500])
    r = await shop.add(a, 2)
    assert r.status_code == 200, r.text
    body = r.json()
    token = body["token"]
    assert r.headers["X-Cart-Token"] == token
    assert len(token) == 43
    assert body["owner"] == "guest"
    assert body["currency"] == "EUR"
    assert [(x["variant_id"], x["quantity"]) for x in body["lines"]] == [(a, 2)]
    line = body["lines"][0]
    assert line["name"] == "Rain Jacket — V0"
    assert line["unit_price_minor"] == 1999
    assert line["available"] == 100
    assert line["price_changed"] is False
    assert body["subtotal_minor"] == 3998
    assert body["total_minor"] == 3998
    assert body["ready"] is True
    assert body["problems"] == []

    r = await shop.add(b, 1, guest(token))
    r = await shop.add(a, 1, guest(token))
    assert [(x["variant_id"], x["quantity"]) for x in r.json()["lines"]] == [(a, 3), (b, 1)]

    r = await shop.client.put(f"/v1/cart/lines/{b}", json={"quantity": 4}, headers=guest(token))
    assert r.status_code == 200
    assert r.json()["lines"][1]["quantity"] == 4
    r = await shop.client.put(f"/v1/cart/lines/{b}", json={"quantity": 0}, headers=guest(token))
    assert [x["variant_id"] for x in r.json()["lines"]] == [a]
    r = await shop.client.delete(f"/v1/cart/lines/{b}", headers=guest(token))
    assert r.status_code == 404
    assert r.json()["type"].endswith("/not-in-cart")

    r = await shop.client.get("/v1/cart", headers=guest(token))
    assert r.json()["lines"][0]["quantity"] == 3
    empty = (await shop.client.get("/v1/cart")).json()  # another guest, no token
    assert empty["lines"] == []
    assert empty["token"] is None
    assert empty["ready"] is False
    assert [p["code"] for p in empty["problems"]] == ["cart-empty"]

    r = await shop.client.delete("/v1/cart", headers=guest(token))
    assert r.status_code == 204
    assert (await shop.client.get("/v1/cart", headers=guest(token))).json()["lines"] == []


async def test_unknown_and_unsellable_variants_are_refused(shop: Shop) -> None:
    r = await shop.add(str(uuid.uuid4()))
    assert r.status_code == 422
    assert r.json()["type"].endswith("/unknown-variant")
    [draft] = await shop.product([500], status="draft")
    r = await shop.add(draft)
    assert r.status_code == 422
    assert r.json()["type"].endswith("/not-sellable")
    r = await shop.client.get("/v1/cart", headers={"X-Cart-Token": "not-a-token"})
    assert r.status_code == 422


async def test_limits_are_problems_not_silent(shop: Shop) -> None:
    ids = await shop.product([100] * (MAX_LINES + 1))
    user = shop.user()
    for v in ids[:MAX_LINES]:
        assert (await shop.add(v, 1, user)).status_code == 200
    r = await shop.add(ids[-1], 1, user)
    assert r.status_code == 422, r.text
    assert r.json()["type"].endswith("/too-many-lines")
    assert r.json()["max_lines"] == MAX_LINES
    r = await shop.add(ids[0], MAX_QUANTITY, user)
    assert r.status_code == 422
    assert r.json()["type"].endswith("/quantity-limit")
    assert r.json()["in_cart"] == 1
    cart = (await shop.client.get("/v1/cart", headers=user)).json()
    assert len(cart["lines"]) == MAX_LINES
    assert cart["lines"][0]["quantity"] == 1

    [yen] = await shop.product([1200], "JPY")
    other = shop.user()
    await shop.add(ids[0], 1, other)
    r = await shop.add(yen, 1, other)
    assert r.status_code == 422
    assert r.json()["type"].endswith("/currency-mismatch")


async def test_every_read_and_write_slides_the_expiry(shop: Shop) -> None:
    [a] = await shop.product([700])
    token = (await shop.add(a)).json()["token"]
    keys = CartStore.keys(guest_owner(token))
    redis = shop.ctx.redis
    assert TTL - 5 <= await redis.ttl(keys[0]) <= TTL
    await redis.expire(keys[0], 30)
    await shop.client.get("/v1/cart", headers=guest(token))
    assert await redis.ttl(keys[0]) > 30
    await redis.expire(keys[0], 30)
    await shop.add(a, 1, guest(token))
    assert await redis.ttl(keys[0]) > 30
    await redis.expire(keys[0], 1)
    await asyncio.sleep(1.5)
    r = await shop.client.get("/v1/cart", headers=guest(token))
    assert r.json()["lines"] == []
    assert r.json()["expires_in_seconds"] is None


async def test_merge_on_sign_in_sums_clamps_and_is_idempotent(shop: Shop) -> None:
    [a, b] = await shop.product([1000, 2000])
    user_id = str(uuid.uuid4())
    user = shop.user(user_id)
    await shop.add(a, MAX_QUANTITY - 1, user)
    token = (await shop.add(a, 3)).json()["token"]
    await shop.add(b, 2, guest(token))

    r = await shop.client.post("/v1/cart/merge", json={"token": token}, headers=user)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["merged"] == {"added": 1, "combined": 1, "clamped": 1, "dropped": 0}
    assert body["owner"] == "user"
    assert body["token"] is None
    assert {x["variant_id"]: x["quantity"] for x in body["lines"]} == {a: MAX_QUANTITY, b: 2}
    assert await shop.ctx.redis.exists(*CartStore.keys(guest_owner(token))) == 0

    again = await shop.client.post("/v1/cart/merge", headers={**user, **guest(token)})
    assert again.status_code == 200
    assert again.json()["merged"] == {"added": 0, "combined": 0, "clamped": 0, "dropped": 0}
    assert again.json()["lines"] == body["lines"]
    r = await shop.client.post("/v1/cart/merge", json={"token": token})
    assert r.status_code == 401
    r = await shop.client.post("/v1/cart/merge", headers=user)
    assert r.status_code == 422
    assert r.json()["type"].endswith("/cart-token-required")


async def test_a_new_price_is_shown_not_applied_until_accepted(shop: Shop) -> None:
    product_id = str(uuid.uuid4())
    v = {"variant_id": str(uuid.uuid4()), "sku": "PX-1", "name": "", "currency": "EUR"}
    await shop.project(product_id, 1, [{**v, "price_amount": 1000}], name="Mug")
    await shop.inventory.stock(v["variant_id"], 5)
    user = shop.user()
    await shop.add(v["variant_id"], 2, user)
    await shop.project(product_id, 2, [{**v, "price_amount": 1200}], name="Mug")

    body = (await shop.client.get("/v1/cart", headers=user)).json()
    line = body["lines"][0]
    assert line["name"] == "Mug"
    assert (line["seen_price_minor"], line["unit_price_minor"], line["price_changed"]) == (
        1000,
        1200,
        True,
    )
    [problem] = body["problems"]
    assert problem["code"] == "price-changed"
    assert (problem["was"], problem["now"]) == (1000, 1200)
    assert body["ready"] is False

    # the shopper accepts 1200 but the price moved again to 1300: nothing is accepted
    await shop.project(product_id, 3, [{**v, "price_amount": 1300}], name="Mug")
    stale = {"lines": [{"variant_id": v["variant_id"], "unit_price_minor": 1200}]}
    r = await shop.client.post("/v1/cart/accept-prices", json=stale, headers=user)
    assert r.status_code == 409
    assert r.json()["lines"][0]["now"] == 1300
    shown = {"lines": [{"variant_id": v["variant_id"], "unit_price_minor": 1300}]}
    r = await shop.client.post("/v1/cart/accept-prices", json=shown, headers=user)
    assert r.status_code == 200
    body = r.json()
    assert body["ready"] is True
    assert body["lines"][0]["seen_price_minor"] == 1300
    assert body["total_minor"] == 2600


async def test_concurrent_adds_lose_nothing(shop: Shop) -> None:
    ids = await shop.product([100] * (MAX_LINES + 3))
    user = shop.user()
    results = await asyncio.gather(*(shop.add(v, 1, user) for v in ids))
    assert sorted(r.status_code for r in results) == [200] * MAX_LINES + [422] * 3
    same = await asyncio.gather(*(shop.add(ids[0], 1, shop.user()) for _ in range(1)))
    assert same[0].status_code in (200, 422)
    other = shop.user()
    [single] = await shop.product([100])
    results = await asyncio.gather(*(shop.add(single, 1, other) for _ in range(MAX_QUANTITY + 4)))
    assert sorted(r.status_code for r in results) == [200] * MAX_QUANTITY + [422] * 4
    cart = (await shop.client.get("/v1/cart", headers=other)).json()
    assert cart["lines"][0]["quantity"] == MAX_QUANTITY
    cart = (await shop.client.get("/v1/cart", headers=user)).json()
    assert len(cart["lines"]) == MAX_LINES


async def test_stock_problems_come_from_inventory(shop: Shop) -> None:
    [few, none] = await shop.product([100, 100], stock=None)
    await shop.inventory.stock(few, 2)
    user = shop.user()
    await shop.add(few, 3, user)
    await shop.add(none, 1, user)
    body = (await shop.client.get("/v1/cart", headers=user)).json()
    assert [x["available"] for x in body["lines"]] == [2, 0]
    codes = {(p["code"], p["variant_id"]) for p in body["problems"]}
    assert codes == {("insufficient-stock", few), ("unavailable", none)}
    assert body["ready"] is False


async def test_inventory_down_is_availability_unknown_not_an_error(shop: Shop) -> None:
    [a] = await shop.product([100])
    cart = Cart(
        owner=str(uuid.uuid4()),
        lines=[CartLine(uuid.UUID(a), 1, 100, "EUR", 0)],
    )
    async with httpx.AsyncClient() as http:
        down = Availability(http, url="http://127.0.0.1:9")  # nothing listens there
        async with shop.ctx.db.session() as session:
            q = await quote(session, cart, availability=down)
    assert [p["code"] for p in q.problems] == ["availability-unknown"]
    assert q.problems[0]["blocking"] is False
    assert q.ready is True
    assert q.lines[0].available is None
    assert q.total_minor == 100


async def test_availability_is_asked_in_batches_of_a_hundred(shop: Shop) -> None:
    [known] = await shop.product([100], stock=7)
    ids = [uuid.UUID(known)] + [uuid.uuid4() for _ in range(149)]
    found = await shop.ctx.availability.get_many(ids)
    assert len(found) == 150
    assert found[uuid.UUID(known)] == 7
    assert sum(found.values()) == 7  # variants inventory does not know have 0
