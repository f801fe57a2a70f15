"""Reservations: reserve, idempotency, confirm, release, expiry, and the last units under
concurrency."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import pytest
from sqlalchemy import text

from tests.integration.inventory.conftest import BERLIN, MADRID, Running, eventually, new_variant

pytestmark = pytest.mark.integration


async def test_reserve_confirm_release(inv: Running) -> None:
    code = await inv.warehouse(BERLIN)
    variant = new_variant()
    await inv.adjust(variant, code, 10)
    r = await inv.reserve([(variant, 4)])
    assert r.status_code == 201, r.text
    reservation = r.json()
    assert reservation["status"] == "active"
    assert reservation["allocations"] == [
        {"variant_id": variant, "warehouse_code": code, "quantity": 4}
    ]
    stock = await inv.stock(variant)
    assert (stock["on_hand"], stock["reserved"], stock["available"]) == (10, 4, 6)

    r = await inv.client.post(f"/v1/reservations/{reservation['id']}/confirm", headers=inv.merchant)
    assert r.status_code == 200
    assert r.json()["status"] == "confirmed"
    stock = await inv.stock(variant)
    assert (stock["on_hand"], stock["reserved"], stock["available"]) == (6, 0, 6)
    again = await inv.client.post(
        f"/v1/reservations/{reservation['id']}/confirm", headers=inv.merchant
    )
    assert again.status_code == 200  # idempotent
    refused = await inv.client.post(
        f"/v1/reservations/{reservation['id']}/release", headers=inv.merchant
    )
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/reservation-not-active")

    other = (await inv.reserve([(variant, 5)])).json()
    r = await inv.client.post(f"/v1/reservations/{other['id']}/release", headers=inv.merchant)
    assert r.json()["status"] == "released"
    assert (await inv.stock(variant))["available"] == 6
    r = await inv.client.post(f"/v1/reservations/{other['id']}/release", headers=inv.merchant)
    assert r.status_code == 200  # releasing twice changes nothing
    assert (await inv.stock(variant))["available"] == 6
    r = await inv.client.post(f"/v1/reservations/{other['id']}/confirm", headers=inv.merchant)
    assert r.status_code == 409

    reasons = [
        m["reason"]
        for m in (
            await inv.client.get(
                "/v1/movements", params={"variant_id": variant}, headers=inv.support
            )
        ).json()["items"]
    ]
    assert reasons == ["received", "reserved", "shipped", "reserved", "released"]


async def test_reserving_more_than_available_is_refused(inv: Running) -> None:
    code = await inv.warehouse(BERLIN)
    variant, other = new_variant(), new_variant()
    await inv.adjust(variant, code, 3)
    await inv.adjust(other, code, 10)
    r = await inv.reserve([(other, 2), (variant, 4)])
    assert r.status_code == 409
    problem = r.json()
    assert problem["type"].endswith("/insufficient-stock")
    assert (problem["variant_id"], problem["requested"], problem["available"]) == (variant, 4, 3)
    assert variant in problem["detail"]
    # all or nothing: the other line was not reserved either
    assert (await inv.stock(other))["reserved"] == 0
    unknown = await inv.reserve([(new_variant(), 1)])
    assert unknown.status_code == 409
    assert unknown.json()["available"] == 0


async def test_same_key_same_reservation(inv: Running) -> None:
    code = await inv.warehouse(BERLIN)
    variant = new_variant()
    await inv.adjust(variant, code, 10)
    key = f"checkout-{uuid.uuid4()}"
    first = await inv.reserve([(variant, 3)], key=key)
    second = await inv.reserve([(variant, 3)], key=key)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert (await inv.stock(variant))["reserved"] == 3
    other = await inv.reserve([(variant, 4)], key=key)
    assert other.status_code == 409
    assert other.json()["type"].endswith("/reservation-key-reused")
    # concurrent retries of one checkout: still one reservation
    key = f"checkout-{uuid.uuid4()}"
    answers = await asyncio.gather(*(inv.reserve([(variant, 1)], key=key) for _ in range(8)))
    assert sorted(a.status_code for a in answers) == [200] * 7 + [201]
    assert len({a.json()["id"] for a in answers}) == 1
    assert (await inv.stock(variant))["reserved"] == 4


async def test_expired_reservation_returns_stock_and_cannot_be_confirmed(inv: Running) -> None:
    code = await inv.warehouse(BERLIN)
    variant = new_variant()
    await inv.adjust(variant, code, 5)
    reservation = (await inv.reserve([(variant, 5)], ttl_seconds=1)).json()
    assert (await inv.stock(variant))["available"] == 0

    async def returned() -> bool:
        return (await inv.stock(variant))["available"] == 5

    await eventually(returned, seconds=10, what="expired stock returned")
    r = await inv.client.get(f"/v1/reservations/{reservation['id']}", headers=inv.support)
    assert r.json()["status"] == "expired"
    r = await inv.client.post(f"/v1/reservations/{reservation['id']}/confirm", headers=inv.merchant)
    assert r.status_code == 409
    assert r.json()["type"].endswith("/reservation-expired")
    stock = await inv.stock(variant)
    assert (stock["on_hand"], stock["reserved"]) == (5, 0)
    moves = (
        await inv.client.get(
            "/v1/movements", params={"reservation_id": reservation["id"]}, headers=inv.support
        )
    ).json()["items"]
    assert [(m["reason"], m["delta_reserved"], m["actor"]) for m in moves][-1] == (
        "expired",
        -5,
        "sweeper",
    )


async def test_confirm_past_expiry_before_the_sweeper_ran(inv: Running) -> None:
    code = await inv.warehouse(BERLIN)
    variant = new_variant()
    await inv.adjust(variant, code, 2)
    reservation = (await inv.reserve([(variant, 2)], ttl_seconds=60)).json()
    async with inv.ctx.db.session() as session:  # its time passed; the sweeper has not seen it
        await session.execute(
            text("UPDATE reservations SET expires_at = now() - interval '1 second' WHERE id = :i"),
            {"i": reservation["id"]},
        )
    r = await inv.client.post(f"/v1/reservations/{reservation['id']}/confirm", headers=inv.merchant)
    assert r.status_code == 409
    assert r.json()["type"].endswith("/reservation-expired")
    assert (await inv.stock(variant))["available"] == 2


async def test_last_units_under_concurrency(inv: Running) -> None:
    """50 concurrent checkouts for the last 5 units (3 + 2 in two warehouses): exactly 5
    succeed, the other 45 get a 409 naming the variant and what is available."""
    berlin, madrid = await inv.warehouse(BERLIN), await inv.warehouse(MADRID, "ES")
    variant = new_variant()
    await inv.adjust(variant, berlin, 3)
    await inv.adjust(variant, madrid, 2)
    answers = await asyncio.gather(*(inv.reserve([(variant, 1)]) for _ in range(50)))
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {201: 5, 409: 45}, statuses
    for refused in (a for a in answers if a.status_code == 409):
        problem = refused.json()
        assert problem["type"].endswith("/insufficient-stock")
        assert (problem["variant_id"], problem["available"]) == (variant, 0)
    stock = await inv.stock(variant)
    assert (stock["on_hand"], stock["reserved"], stock["available"]) == (5, 5, 0)
    async with inv.ctx.db.session() as session:
        negative = (
            await session.execute(
                text("SELECT count(*) FROM stock_levels WHERE on_hand - reserved < 0")
            )
        ).scalar_one()
        reserved_moves = (
            await session.execute(
                text(
                    "SELECT count(*) FROM movements WHERE variant_id = :v AND reason = 'reserved'"
                ),
                {"v": variant},
            )
        ).scalar_one()
    assert negative == 0
    assert reserved_moves == 5
