"""Reports: stock value per warehouse and currency, movements by day and reason."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from tests.integration.inventory.conftest import BERLIN, MADRID, Running, new_variant

pytestmark = pytest.mark.integration


async def _priced(inv: Running, variant: str, amount: int, currency: str) -> None:
    async with inv.ctx.db.session() as session:  # as product.changed would have set it
        await session.execute(
            text(
                "INSERT INTO variants (variant_id, sku, price_amount, currency) "
                "VALUES (:v, :s, :a, :c) ON CONFLICT (variant_id) DO UPDATE "
                "SET price_amount = :a, currency = :c, sku = :s"
            ),
            {"v": variant, "s": f"SKU-{variant[:8]}", "a": amount, "c": currency},
        )


async def test_stock_value_by_price_and_cost(inv: Running) -> None:
    berlin, madrid = await inv.warehouse(BERLIN), await inv.warehouse(MADRID, "ES")
    shirt, mug, loose = new_variant(), new_variant(), new_variant()
    await _priced(inv, shirt, 3999, "EUR")
    await _priced(inv, mug, 1250, "USD")
    await inv.adjust(shirt, berlin, 10)
    await inv.adjust(shirt, madrid, 3)
    await inv.adjust(mug, berlin, 4)
    await inv.adjust(loose, madrid, 7)  # no price known
    supplier = (
        await inv.client.post(
            "/v1/suppliers",
            json={"name": f"S {uuid.uuid4().hex[:6]}", "lead_time_days": 5},
            headers=inv.merchant,
        )
    ).json()
    await inv.client.put(
        f"/v1/suppliers/{supplier['id']}/variants/{shirt}",
        json={"cost": {"amount": 1500, "currency": "EUR"}},
        headers=inv.merchant,
    )

    report = (
        await inv.client.get(
            "/v1/reports/stock-value", params={"basis": "price"}, headers=inv.support
        )
    ).json()
    lines = {
        (x["warehouse_code"], x["value"]["currency"]): (x["value"]["amount"], x["units"])
        for x in report["by_warehouse"]
    }
    assert lines[(berlin, "EUR")] == (10 * 3999, 10)
    assert lines[(berlin, "USD")] == (4 * 1250, 4)
    assert lines[(madrid, "EUR")] == (3 * 3999, 3)
    assert (madrid, "USD") not in lines
    assert report["unvalued_units"] >= 7
    for total in report["totals"]:  # totals are the sum of the warehouse lines
        currency = total["value"]["currency"]
        assert total["value"]["amount"] == sum(
            x["value"]["amount"]
            for x in report["by_warehouse"]
            if x["value"]["currency"] == currency
        )

    report = (
        await inv.client.get(
            "/v1/reports/stock-value", params={"basis": "cost"}, headers=inv.support
        )
    ).json()
    lines = {
        (x["warehouse_code"], x["value"]["currency"]): (x["value"]["amount"], x["units"])
        for x in report["by_warehouse"]
    }
    assert lines[(berlin, "EUR")] == (10 * 1500, 10)
    assert lines[(madrid, "EUR")] == (3 * 1500, 3)
    assert (berlin, "USD") not in lines  # the mug has no supplier cost


async def test_movements_by_period(inv: Running) -> None:
    code = await inv.warehouse(BERLIN)
    variant = new_variant()
    await inv.adjust(variant, code, 10)
    await inv.adjust(variant, code, 5)
    await inv.adjust(variant, code, -2, "damaged")
    reservation = (await inv.reserve([(variant, 3)])).json()
    await inv.client.post(f"/v1/reservations/{reservation['id']}/confirm", headers=inv.merchant)
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    r = await inv.client.get(
        "/v1/reports/movements", params={"variant_id": variant}, headers=inv.support
    )
    assert r.status_code == 200
    groups = {(g["day"], g["reason"]): g for g in r.json()["groups"]}
    assert groups[(today, "received")]["movements"] == 2
    assert groups[(today, "received")]["delta_on_hand"] == 15
    assert groups[(today, "damaged")]["delta_on_hand"] == -2
    assert groups[(today, "reserved")]["delta_reserved"] == 3
    assert (
        groups[(today, "shipped")]["delta_on_hand"],
        groups[(today, "shipped")]["delta_reserved"],
    ) == (-3, -3)
    by_warehouse = await inv.client.get(
        "/v1/reports/movements", params={"warehouse_code": code}, headers=inv.support
    )
    assert by_warehouse.json()["groups"] == r.json()["groups"]
    past = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    r = await inv.client.get(
        "/v1/reports/movements",
        params={"variant_id": variant, "until": past},
        headers=inv.support,
    )
    assert r.json()["groups"] == []
    r = await inv.client.get(
        "/v1/reports/movements", params={"since": "0001-01-01T00:00:00+01:00"}, headers=inv.support
    )
    assert r.status_code == 400
