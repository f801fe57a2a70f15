"""Coupons, tax and shipping as staff configure them and a cart shows them: the order of
operations (subtotal -> discount -> tax per line -> shipping) in EUR, JPY and KWD."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from services.order.tables import COUPONS
from tests.integration.order_cart.conftest import Shop

pytestmark = pytest.mark.integration


async def configure(shop: Shop, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await shop.client.put(path, json=body, headers=shop.merchant)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def code(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}".upper()


async def cart_with(shop: Shop, items: list[tuple[str, int]]) -> dict[str, str]:
    user = shop.user()
    for variant, quantity in items:
        r = await shop.add(variant, quantity, user)
        assert r.status_code == 200, r.text
    return user


async def apply(shop: Shop, user: dict[str, str], coupon: str) -> Any:
    return await shop.client.post("/v1/cart/coupon", json={"code": coupon}, headers=user)


async def test_eur_percent_coupon_tax_per_line_and_shipping(shop: Shop) -> None:
    await configure(shop, "/v1/tax-rates/DE", {"name": "VAT", "rate_bp": 1900})
    method = f"std-{uuid.uuid4().hex[:6]}"
    await configure(
        shop,
        f"/v1/shipping-methods/{method}/EUR",
        {
            "name": "Standard",
            "price_minor": 495,
            "countries": ["DE", "AT"],
            "min_days": 2,
            "max_days": 4,
        },
    )
    ten = code("TEN")
    await configure(shop, f"/v1/coupons/{ten}", {"kind": "percent", "value": 1000})
    [a, b] = await shop.product([1999, 1050])
    user = await cart_with(shop, [(a, 3), (b, 1)])
    r = await apply(shop, user, ten.lower())  # codes are case-insensitive
    assert r.status_code == 200, r.text
    assert r.json()["coupon"] == ten
    r = await shop.client.get(
        "/v1/cart", params={"country": "DE", "shipping_method": method}, headers=user
    )
    body = r.json()
    # subtotal 5997 + 1050 = 7047; 10 % = 704.7 -> 705, split 599.94/105.05 -> 600 + 105
    assert body["subtotal_minor"] == 7047
    assert body["discount_minor"] == 705
    assert [x["discount_minor"] for x in body["lines"]] == [600, 105]
    # 19 % of 5397 = 1025.43 -> 1025; of 945 = 179.55 -> 180
    assert [x["tax_minor"] for x in body["lines"]] == [1025, 180]
    assert [x["total_minor"] for x in body["lines"]] == [5997 - 600 + 1025, 1050 - 105 + 180]
    assert body["tax_minor"] == 1205
    assert body["shipping_minor"] == 495
    assert body["shipping"]["code"] == method
    assert body["shipping"]["min_days"] == 2
    assert body["total_minor"] == 7047 - 705 + 1205 + 495
    assert body["coupon_applied"] is True
    assert body["ready"] is True

    r = await shop.client.get(
        "/v1/cart", params={"country": "FR", "shipping_method": method}, headers=user
    )
    body = r.json()
    assert [p["code"] for p in body["problems"]] == ["shipping-unavailable"]
    assert body["tax_minor"] == 0  # no rate configured for FR
    assert body["ready"] is False


async def test_jpy_fixed_coupon(shop: Shop) -> None:
    await configure(shop, "/v1/tax-rates/JP", {"name": "Consumption tax", "rate_bp": 1000})
    method = f"std-{uuid.uuid4().hex[:6]}"
    await configure(
        shop,
        f"/v1/shipping-methods/{method}/JPY",
        {"name": "Takkyubin", "price_minor": 800, "min_days": 1, "max_days": 2},
    )
    off = code("YEN")
    await configure(shop, f"/v1/coupons/{off}", {"kind": "fixed", "value": 500, "currency": "JPY"})
    [a, b] = await shop.product([1200, 999], "JPY")
    user = await cart_with(shop, [(a, 2), (b, 1)])
    assert (await apply(shop, user, off)).status_code == 200
    body = (
        await shop.client.get(
            "/v1/cart", params={"country": "JP", "shipping_method": method}, headers=user
        )
    ).json()
    # 500 over 2400/999: 353.04 / 146.95 -> 353 + 147
    assert [x["discount_minor"] for x in body["lines"]] == [353, 147]
    # 10 % of 2047 = 204.7 -> 205; of 852 = 85.2 -> 85
    assert [x["tax_minor"] for x in body["lines"]] == [205, 85]
    assert body["total_minor"] == 3399 - 500 + 290 + 800
    assert body["currency"] == "JPY"


async def test_kwd_three_decimals(shop: Shop) -> None:
    await configure(shop, "/v1/tax-rates/KW", {"name": "VAT", "rate_bp": 500})
    method = f"exp-{uuid.uuid4().hex[:6]}"
    await configure(
        shop,
        f"/v1/shipping-methods/{method}/KWD",
        {"name": "Express", "price_minor": 1500, "countries": ["KW"], "min_days": 1, "max_days": 1},
    )
    [a] = await shop.product([12345], "KWD")  # 12.345 KWD
    user = await cart_with(shop, [(a, 1)])
    body = (
        await shop.client.get(
            "/v1/cart", params={"country": "KW", "shipping_method": method}, headers=user
        )
    ).json()
    assert body["tax_minor"] == 617  # 617.25 -> 617
    assert body["total_minor"] == 12345 + 617 + 1500
    assert body["shipping"]["latest_delivery"] == body["shipping"]["earliest_delivery"]


async def test_coupons_that_do_not_apply_are_refused_with_a_reason(shop: Shop) -> None:
    now = datetime.now(UTC)
    expired, later, big, usd, gone = (code(p) for p in ("EXP", "LATER", "BIG", "USD", "GONE"))
    await configure(
        shop,
        f"/v1/coupons/{expired}",
        {"kind": "percent", "value": 500, "ends_at": (now - timedelta(days=1)).isoformat()},
    )
    await configure(
        shop,
        f"/v1/coupons/{later}",
        {"kind": "percent", "value": 500, "starts_at": (now + timedelta(days=1)).isoformat()},
    )
    await configure(
        shop,
        f"/v1/coupons/{big}",
        {"kind": "fixed", "value": 5000, "currency": "EUR", "min_subtotal_minor": 3000},
    )
    await configure(shop, f"/v1/coupons/{usd}", {"kind": "fixed", "value": 500, "currency": "USD"})
    await configure(shop, f"/v1/coupons/{gone}", {"kind": "percent", "value": 500, "active": False})
    used_up = code("ONCE")
    await configure(
        shop, f"/v1/coupons/{used_up}", {"kind": "percent", "value": 500, "max_redemptions": 1}
    )
    async with shop.ctx.db.session() as session:  # as checkout's redemption does
        await session.execute(update(COUPONS).where(COUPONS.c.code == used_up).values(redeemed=1))
    [a] = await shop.product([1000])
    user = await cart_with(shop, [(a, 2)])
    for coupon, reason in [
        (used_up, "exhausted"),
        (expired, "expired"),
        (later, "not-started"),
        (big, "min-subtotal"),
        (usd, "currency"),
        (gone, "inactive"),
        ("NOSUCHCOUPON", "unknown"),
    ]:
        r = await apply(shop, user, coupon)
        assert r.status_code == 422, (coupon, r.text)
        assert r.json()["type"].endswith("/coupon-invalid")
        assert r.json()["reason"] == reason

    # a fixed coupon never takes more than the subtotal; dropping below the minimum later is
    # shown as a problem (and the discount is gone)
    r = await shop.client.put(f"/v1/cart/lines/{a}", json={"quantity": 4}, headers=user)
    r = await apply(shop, user, big)
    assert r.status_code == 200
    assert r.json()["discount_minor"] == 4000
    assert r.json()["total_minor"] == 0
    r = await shop.client.put(f"/v1/cart/lines/{a}", json={"quantity": 2}, headers=user)
    body = r.json()
    assert body["discount_minor"] == 0
    assert body["coupon"] == big
    assert body["coupon_applied"] is False
    assert [(p["code"], p["reason"]) for p in body["problems"]] == [
        ("coupon-invalid", "min-subtotal")
    ]
    assert body["ready"] is False
    r = await shop.client.delete("/v1/cart/coupon", headers=user)
    assert r.json()["coupon"] is None
    assert r.json()["ready"] is True


async def test_reference_data_is_validated_and_guarded(shop: Shop) -> None:
    shopper = shop.user()
    r = await shop.client.put(
        "/v1/tax-rates/DE", json={"name": "VAT", "rate_bp": 1}, headers=shopper
    )
    assert r.status_code == 403
    r = await shop.client.put(
        "/v1/tax-rates/XX", json={"name": "VAT", "rate_bp": 1}, headers=shop.merchant
    )
    assert r.status_code == 422
    r = await shop.client.put(
        "/v1/shipping-methods/std/EUX",
        json={"name": "x", "price_minor": 1, "min_days": 1, "max_days": 2},
        headers=shop.merchant,
    )
    assert r.status_code == 422
    r = await shop.client.put(
        "/v1/shipping-methods/std/EUR",
        json={"name": "x", "price_minor": 1, "min_days": 3, "max_days": 2, "countries": ["DE"]},
        headers=shop.merchant,
    )
    assert r.status_code == 422
    r = await shop.client.put(
        f"/v1/coupons/{code('P')}", json={"kind": "percent", "value": 10_001}, headers=shop.merchant
    )
    assert r.status_code == 422
    r = await shop.client.put(
        f"/v1/coupons/{code('F')}", json={"kind": "fixed", "value": 100}, headers=shop.merchant
    )
    assert r.status_code == 422
    assert (await shop.client.get("/v1/coupons")).status_code == 401

    # a redemption limit below the redemptions already made is a conflict, not a 500
    used = code("USED")
    await configure(shop, f"/v1/coupons/{used}", {"kind": "percent", "value": 100})
    async with shop.ctx.db.session() as session:
        await session.execute(update(COUPONS).where(COUPONS.c.code == used).values(redeemed=3))
    r = await shop.client.put(
        f"/v1/coupons/{used}",
        json={"kind": "percent", "value": 100, "max_redemptions": 2},
        headers=shop.merchant,
    )
    assert r.status_code == 409, r.text
    r = await shop.client.get(f"/v1/coupons/{used.lower()}", headers=shop.merchant)
    assert r.json()["redeemed"] == 3
    assert (await shop.client.get("/v1/tax-rates")).status_code == 200
    listed = (await shop.client.get("/v1/shipping-methods", params={"currency": "EUR"})).json()
    assert all(m["currency"] == "EUR" for m in listed)
