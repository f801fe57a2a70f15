"""Allocation across warehouses: nearest, most stock, preferred, split and no split."""

from __future__ import annotations

import pytest

from tests.integration.inventory.conftest import BERLIN, MADRID, PARIS, Running, new_variant

pytestmark = pytest.mark.integration


async def _two_warehouses(inv: Running) -> tuple[str, str, str]:
    berlin, madrid = await inv.warehouse(BERLIN), await inv.warehouse(MADRID, "ES")
    variant = new_variant()
    await inv.adjust(variant, berlin, 4)
    await inv.adjust(variant, madrid, 10)
    return variant, berlin, madrid


def _picks(body: dict[str, object]) -> list[tuple[str, int]]:
    allocations = body["allocations"]
    assert isinstance(allocations, list)
    return [(a["warehouse_code"], a["quantity"]) for a in allocations]


async def test_nearest_takes_the_closest_warehouse(inv: Running) -> None:
    variant, berlin, madrid = await _two_warehouses(inv)
    # Paris: Berlin is ~880 km away, Madrid ~1050 km
    r = await inv.reserve([(variant, 3)], strategy="nearest", ship_to=PARIS)
    assert _picks(r.json()) == [(berlin, 3)]
    r = await inv.reserve([(variant, 2)], strategy="nearest", ship_to=MADRID)
    assert _picks(r.json()) == [(madrid, 2)]


async def test_most_stock_takes_the_fullest_warehouse(inv: Running) -> None:
    variant, _berlin, madrid = await _two_warehouses(inv)
    r = await inv.reserve([(variant, 3)], strategy="most_stock", ship_to=PARIS)
    assert _picks(r.json()) == [(madrid, 3)]
    # nearest without a shipping location behaves as most_stock
    r = await inv.reserve([(variant, 1)], strategy="nearest")
    assert _picks(r.json()) == [(madrid, 1)]


async def test_preferred_warehouse_goes_first(inv: Running) -> None:
    variant, berlin, _madrid = await _two_warehouses(inv)
    r = await inv.reserve([(variant, 2)], strategy="most_stock", preferred_warehouse=berlin)
    assert _picks(r.json()) == [(berlin, 2)]


async def test_a_line_is_split_when_one_warehouse_cannot_cover_it(inv: Running) -> None:
    variant, berlin, madrid = await _two_warehouses(inv)
    r = await inv.reserve([(variant, 12)], strategy="nearest", ship_to=PARIS)
    assert r.status_code == 201
    assert sorted(_picks(r.json())) == sorted([(berlin, 4), (madrid, 8)])
    stock = await inv.stock(variant)
    assert {w["warehouse_code"]: w["reserved"] for w in stock["warehouses"]} == {
        berlin: 4,
        madrid: 8,
    }


async def test_no_split_needs_one_warehouse_with_enough(inv: Running) -> None:
    variant, _berlin, madrid = await _two_warehouses(inv)
    r = await inv.reserve([(variant, 12)], allow_split=False)
    assert r.status_code == 409
    assert r.json()["available"] == 14
    assert "single warehouse" in r.json()["detail"]
    r = await inv.reserve([(variant, 6)], allow_split=False, strategy="nearest", ship_to=PARIS)
    assert _picks(r.json()) == [(madrid, 6)]  # Berlin is nearer but holds only 4
