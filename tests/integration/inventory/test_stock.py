"""Warehouses, adjustments with reasons, the append-only movement log, permissions."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from tests.integration.inventory.conftest import BERLIN, Running, new_variant

pytestmark = pytest.mark.integration


async def test_warehouse_crud_and_duplicate_code(inv: Running) -> None:
    code = await inv.warehouse(BERLIN)
    r = await inv.client.get(f"/v1/warehouses/{code}", headers=inv.support)
    assert r.status_code == 200
    assert r.json()["location"] == BERLIN
    again = await inv.client.post(
        "/v1/warehouses",
        json={"code": code, "name": "x", "location": BERLIN, "country": "DE"},
        headers=inv.merchant,
    )
    assert again.status_code == 409
    r = await inv.client.put(
        f"/v1/warehouses/{code}",
        json={"name": "Renamed", "location": BERLIN, "country": "DE"},
        headers=inv.merchant,
    )
    assert r.json()["name"] == "Renamed"
    assert (await inv.client.get("/v1/warehouses/NOPE-x", headers=inv.support)).status_code == 404


async def test_permissions(inv: Running) -> None:
    code = await inv.warehouse(BERLIN)
    variant = new_variant()
    body = {"variant_id": variant, "warehouse_code": code, "delta": 5, "reason": "received"}
    assert (await inv.client.post("/v1/stock/adjustments", json=body)).status_code == 401
    r = await inv.client.post("/v1/stock/adjustments", json=body, headers=inv.support)
    assert r.status_code == 403  # support reads, cannot write
    r = await inv.client.post("/v1/stock/adjustments", json=body, headers=inv.merchant)
    assert r.status_code == 200
    assert (await inv.client.get(f"/v1/stock/{variant}", headers=inv.shopper)).status_code == 403
    assert (await inv.client.get(f"/v1/stock/{variant}", headers=inv.support)).status_code == 200
    # available-to-sell is public
    r = await inv.client.get(f"/v1/availability/{variant}")
    assert r.status_code == 200
    assert r.json()["available"] == 5


async def test_adjustments_and_audit_trail(inv: Running) -> None:
    code = await inv.warehouse(BERLIN)
    variant = new_variant()
    assert (await inv.adjust(variant, code, 10, "received")).status_code == 200
    assert (await inv.adjust(variant, code, -2, "damaged")).status_code == 200
    assert (await inv.adjust(variant, code, -1, "lost")).status_code == 200
    assert (await inv.adjust(variant, code, 1, "returned")).status_code == 200
    r = await inv.adjust(variant, code, -3, "correction")
    assert r.status_code == 200
    assert r.json()["on_hand"] == 5
    assert r.json()["warehouses"][0] == {
        "warehouse_code": code,
        "on_hand": 5,
        "reserved": 0,
        "available": 5,
        "reorder_point": None,
        "target_level": None,
        "low_stock": False,
    }
    r = await inv.client.get("/v1/movements", params={"variant_id": variant}, headers=inv.support)
    moves = r.json()["items"]
    assert [(m["reason"], m["delta_on_hand"], m["on_hand_after"]) for m in moves] == [
        ("received", 10, 10),
        ("damaged", -2, 8),
        ("lost", -1, 7),
        ("returned", 1, 8),
        ("correction", -3, 5),
    ]
    assert all(m["actor"] and m["warehouse_code"] == code for m in moves)


async def test_adjustment_that_would_go_negative_is_refused(inv: Running) -> None:
    code = await inv.warehouse(BERLIN)
    variant = new_variant()
    await inv.adjust(variant, code, 3)
    r = await inv.adjust(variant, code, -4, "lost")
    assert r.status_code == 409
    problem = r.json()
    assert problem["type"].endswith("/insufficient-stock")
    assert problem["variant_id"] == variant
    assert problem["available"] == 3
    # reserved units cannot be adjusted away either
    assert (await inv.reserve([(variant, 2)])).status_code == 201
    r = await inv.adjust(variant, code, -2, "damaged")
    assert r.status_code == 409
    assert r.json()["available"] == 1
    assert (await inv.stock(variant))["on_hand"] == 3


async def test_reason_sign_and_unknown_warehouse(inv: Running) -> None:
    code = await inv.warehouse(BERLIN)
    variant = new_variant()
    assert (await inv.adjust(variant, code, -1, "received")).status_code == 422
    assert (await inv.adjust(variant, code, 1, "damaged")).status_code == 422
    assert (await inv.adjust(variant, code, 0, "correction")).status_code == 422
    assert (await inv.adjust(variant, code, 1, "stolen-by-elves")).status_code == 422
    assert (await inv.adjust(variant, "NO-SUCH-WH", 1)).status_code == 404


async def test_database_refuses_negative_stock_and_movement_edits(inv: Running) -> None:
    code = await inv.warehouse(BERLIN)
    variant = new_variant()
    await inv.adjust(variant, code, 2)
    with pytest.raises(IntegrityError, match="stock_available_not_negative"):
        async with inv.ctx.db.session() as session:
            await session.execute(
                text("UPDATE stock_levels SET reserved = on_hand + 1 WHERE variant_id = :v"),
                {"v": variant},
            )
    with pytest.raises(IntegrityError, match="violates check constraint"):
        async with inv.ctx.db.session() as session:
            await session.execute(
                text("UPDATE stock_levels SET on_hand = -1 WHERE variant_id = :v"), {"v": variant}
            )
    with pytest.raises(DBAPIError, match="append-only"):
        async with inv.ctx.db.session() as session:
            await session.execute(
                text("UPDATE movements SET delta_on_hand = 0 WHERE variant_id = :v"),
                {"v": variant},
            )
