"""Reorder points: inventory.low_stock once per crossing; suppliers and purchase suggestions."""

from __future__ import annotations

import math
import uuid

import pytest
from sqlalchemy import text

from tests.integration.inventory.conftest import BERLIN, Running, new_variant

pytestmark = pytest.mark.integration


async def _low_stock_events(inv: Running, variant: str) -> int:
    async with inv.ctx.db.session() as session:
        count = (
            await session.execute(
                text(
                    "SELECT count(*) FROM outbox "
                    "WHERE topic = 'inventory.low_stock.v1' AND key = :k"
                ),
                {"k": variant.encode()},
            )
        ).scalar_one()
    return int(count)


async def test_low_stock_event_once_per_crossing(inv: Running) -> None:
    code = await inv.warehouse(BERLIN)
    variant = new_variant()
    await inv.adjust(variant, code, 20)
    r = await inv.client.put(
        f"/v1/stock/{variant}/warehouses/{code}/reorder-point",
        json={"reorder_point": 10, "target_level": 30},
        headers=inv.merchant,
    )
    assert r.status_code == 200
    assert r.json()["low_stock"] is False
    await inv.adjust(variant, code, -5, "damaged")  # 15: above
    assert await _low_stock_events(inv, variant) == 0
    assert (await inv.reserve([(variant, 6)])).status_code == 201  # 9: crosses below
    assert await _low_stock_events(inv, variant) == 1
    await inv.adjust(variant, code, -2, "lost")  # 7: still below, no new event
    assert (await inv.reserve([(variant, 1)])).status_code == 201  # 6
    assert await _low_stock_events(inv, variant) == 1
    alerts = (await inv.client.get("/v1/alerts/low-stock", headers=inv.support)).json()
    assert {
        "variant_id": variant,
        "sku": None,
        "warehouse_code": code,
        "available": 6,
        "reorder_point": 10,
    } in alerts
    await inv.adjust(variant, code, 10, "received")  # 16: re-armed
    assert await _low_stock_events(inv, variant) == 1
    await inv.adjust(variant, code, -7, "correction")  # 9: crosses again
    assert await _low_stock_events(inv, variant) == 2


async def test_purchase_suggestions(inv: Running) -> None:
    code = await inv.warehouse(BERLIN)
    variant = new_variant()
    await inv.adjust(variant, code, 30)
    # 14 units shipped in the velocity window (28 days): 0.5 per day
    reservation = (await inv.reserve([(variant, 14)])).json()
    r = await inv.client.post(f"/v1/reservations/{reservation['id']}/confirm", headers=inv.merchant)
    assert r.status_code == 200
    await inv.client.put(
        f"/v1/stock/{variant}/warehouses/{code}/reorder-point",
        json={"reorder_point": 12, "target_level": 40},
        headers=inv.merchant,
    )
    cheap = (
        await inv.client.post(
            "/v1/suppliers",
            json={"name": f"Cheap {uuid.uuid4().hex[:6]}", "lead_time_days": 10},
            headers=inv.merchant,
        )
    ).json()
    dear = (
        await inv.client.post(
            "/v1/suppliers",
            json={"name": f"Dear {uuid.uuid4().hex[:6]}", "lead_time_days": 2},
            headers=inv.merchant,
        )
    ).json()
    for supplier, cost in ((cheap, 500), (dear, 900)):
        r = await inv.client.put(
            f"/v1/suppliers/{supplier['id']}/variants/{variant}",
            json={"cost": {"amount": cost, "currency": "EUR"}},
            headers=inv.merchant,
        )
        assert r.status_code == 200, r.text
    assert (
        await inv.client.post(
            "/v1/suppliers", json={"name": cheap["name"], "lead_time_days": 1}, headers=inv.merchant
        )
    ).status_code == 409

    suggestions = (await inv.client.get("/v1/purchase-suggestions", headers=inv.support)).json()
    mine = [s for s in suggestions if s["variant_id"] == variant]
    # available 16 <= 12 + ceil(0.5 * 10) = 17 -> order 40 + 5 - 16 = 29 from the cheaper supplier
    lead_demand = math.ceil(0.5 * 10)
    assert mine == [
        {
            "variant_id": variant,
            "sku": None,
            "warehouse_code": code,
            "available": 16,
            "reorder_point": 12,
            "target_level": 40,
            "velocity_per_day": 0.5,
            "lead_time_days": 10,
            "quantity": 40 + lead_demand - 16,
            "supplier_id": cheap["id"],
            "supplier_name": cheap["name"],
            "unit_cost": {"amount": 500, "currency": "EUR"},
        }
    ]
    r = await inv.client.delete(
        f"/v1/suppliers/{cheap['id']}/variants/{variant}", headers=inv.merchant
    )
    assert r.status_code == 204
    suggestions = (await inv.client.get("/v1/purchase-suggestions", headers=inv.support)).json()
    # with the 2-day supplier: 16 > 12 + 1, nothing to order yet
    assert [s for s in suggestions if s["variant_id"] == variant] == []
