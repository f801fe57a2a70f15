"""Inventory as a checkout/refund saga participant: commands in on `inventory.commands.v1`,
replies out on `<saga>.replies.v1`, effects and replies committed together."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from services.inventory.tables import MOVEMENTS, RESERVATIONS
from tests.integration.order_topics import BERLIN
from tests.integration.saga_driver import SagaDriver
from tests.integration.saga_participants.conftest import Inventory

pytestmark = pytest.mark.integration


def checkout(order_id: str, lines: list[tuple[str, int]], **extra: Any) -> dict[str, Any]:
    """The checkout saga's data as the order service starts it."""
    return {
        "order_id": order_id,
        "order_number": "K-1",
        "customer_id": str(uuid.uuid4()),
        "currency": "EUR",
        "amount_minor": 2500,
        "payment_method": "pm_card_visa",
        "lines": [{"variant_id": v, "quantity": q} for v, q in lines],
        "ship_to": BERLIN,
        "reservation_ttl_seconds": 900,
        **extra,
    }


async def reservations_for(inventory: Inventory, order_id: str) -> int:
    db = inventory.app.state.ctx.db
    async with db.session() as session:
        count = await session.execute(
            select(func.count()).where(RESERVATIONS.c.key == f"order:{order_id}")
        )
        return int(count.scalar_one())


async def test_reserve_replies_with_the_reservation(
    inventory: Inventory, orchestrator: SagaDriver
) -> None:
    variant = await inventory.stocked(5)
    order_id = str(uuid.uuid4())
    reply = await orchestrator.call(
        "inventory", "reserve_stock", checkout(order_id, [(variant, 2)])
    )
    assert reply["outcome"] == "success", reply
    assert reply["name"] == "reserve_stock"
    assert reply["step"] == 0
    assert set(reply["data"]) == {"reservation_id"}
    reservation = await inventory.reservation(reply["data"]["reservation_id"])
    assert reservation["status"] == "active"
    assert reservation["key"] == f"order:{order_id}"
    stock = await inventory.stock(variant)
    assert (stock["on_hand"], stock["reserved"]) == (5, 2)


async def test_reserve_short_fails_with_insufficient_stock_and_holds_nothing(
    inventory: Inventory, orchestrator: SagaDriver
) -> None:
    plenty = await inventory.stocked(10)
    scarce = await inventory.stocked(1)
    order_id = str(uuid.uuid4())
    data = checkout(order_id, [(plenty, 1), (scarce, 2)])
    reply = await orchestrator.call("inventory", "reserve_stock", data)
    assert reply["outcome"] == "failure"
    assert reply["reason"].startswith("insufficient-stock: "), reply["reason"]
    assert scarce in reply["reason"]
    assert await reservations_for(inventory, order_id) == 0
    assert (await inventory.stock(plenty))["reserved"] == 0


async def test_reserve_of_an_unknown_variant_fails(
    inventory: Inventory, orchestrator: SagaDriver
) -> None:
    unknown = str(uuid.uuid4())
    reply = await orchestrator.call(
        "inventory", "reserve_stock", checkout(str(uuid.uuid4()), [(unknown, 1)])
    )
    assert reply["outcome"] == "failure"
    assert reply["reason"].startswith("unknown-variant: "), reply["reason"]


async def test_a_resent_or_redelivered_reserve_holds_stock_once(
    inventory: Inventory, orchestrator: SagaDriver
) -> None:
    variant = await inventory.stocked(5)
    order_id = str(uuid.uuid4())
    data = checkout(order_id, [(variant, 3)])
    saga_id = str(uuid.uuid4())
    # attempt 1 and its timeout retry (attempt 2): two events, the same order
    await orchestrator.send("inventory", "reserve_stock", data, saga_id=saga_id)
    await orchestrator.send("inventory", "reserve_stock", data, saga_id=saga_id, attempt=2)
    first = await orchestrator.reply(saga_id, count=1)
    second = await orchestrator.reply(saga_id, count=2)
    assert first["outcome"] == second["outcome"] == "success"
    assert first["data"] == second["data"]
    assert {first["attempt"], second["attempt"]} == {1, 2}
    assert await reservations_for(inventory, order_id) == 1
    assert (await inventory.stock(variant))["reserved"] == 3


async def test_release_returns_the_stock_and_is_idempotent(
    inventory: Inventory, orchestrator: SagaDriver
) -> None:
    variant = await inventory.stocked(4)
    order_id = str(uuid.uuid4())
    data = checkout(order_id, [(variant, 4)])
    reserved = await orchestrator.call("inventory", "reserve_stock", data)
    assert reserved["outcome"] == "success"
    data |= reserved["data"]
    for _ in range(2):
        released = await orchestrator.call(
            "inventory", "release_stock", data, step=0, phase="compensate"
        )
        assert released["outcome"] == "success", released
        assert released["phase"] == "compensate"
    reservation = await inventory.reservation(data["reservation_id"])
    assert reservation["status"] == "released"
    stock = await inventory.stock(variant)
    assert (stock["on_hand"], stock["reserved"]) == (4, 0)
    # nothing was ever reserved for this order: nothing to release is a success too
    nothing = checkout(str(uuid.uuid4()), [(variant, 1)])
    released = await orchestrator.call("inventory", "release_stock", nothing, phase="compensate")
    assert released["outcome"] == "success"


async def test_commit_ships_the_reservation(inventory: Inventory, orchestrator: SagaDriver) -> None:
    variant = await inventory.stocked(6)
    order_id = str(uuid.uuid4())
    data = checkout(order_id, [(variant, 2)])
    reserved = await orchestrator.call("inventory", "reserve_stock", data)
    data |= reserved["data"] | {"payment_id": "pi_sandbox_x"}
    for _ in range(2):  # a re-sent commit confirms once
        committed = await orchestrator.call("inventory", "commit_stock", data, step=2)
        assert committed["outcome"] == "success", committed
        assert committed["data"] == {}
    assert (await inventory.reservation(data["reservation_id"]))["status"] == "confirmed"
    stock = await inventory.stock(variant)
    assert (stock["on_hand"], stock["reserved"]) == (4, 0)
    # a release after the commit must not put shipped stock back
    late = await orchestrator.call("inventory", "release_stock", data, phase="compensate")
    assert late["outcome"] == "failure"
    assert late["reason"].startswith("reservation-not-active: ")


async def test_commit_of_an_expired_reservation_fails(
    inventory: Inventory, orchestrator: SagaDriver
) -> None:
    variant = await inventory.stocked(3)
    data = checkout(str(uuid.uuid4()), [(variant, 3)], reservation_ttl_seconds=1)
    reserved = await orchestrator.call("inventory", "reserve_stock", data)
    assert reserved["outcome"] == "success"
    await asyncio.sleep(1.5)
    committed = await orchestrator.call("inventory", "commit_stock", data | reserved["data"])
    assert committed["outcome"] == "failure"
    assert committed["reason"].startswith("reservation-expired: "), committed["reason"]
    stock = await inventory.stock(variant)
    assert (stock["on_hand"], stock["reserved"]) == (3, 0)


async def test_restock_and_unrestock_are_idempotent(
    inventory: Inventory, orchestrator: SagaDriver
) -> None:
    code = await inventory.warehouse()
    variant = await inventory.stocked(2, code)
    return_id = str(uuid.uuid4())
    data = {
        "order_id": str(uuid.uuid4()),
        "refund_id": str(uuid.uuid4()),
        "return_id": return_id,
        "lines": [{"variant_id": variant, "quantity": 3}],
    }
    for _ in range(2):
        restocked = await orchestrator.call(
            "inventory", "restock_items", data, saga_type="refund", step=1
        )
        assert restocked["outcome"] == "success", restocked
    assert (await inventory.stock(variant))["on_hand"] == 5
    db = inventory.app.state.ctx.db
    async with db.session() as session:
        reasons = (
            await session.execute(
                select(MOVEMENTS.c.reason, MOVEMENTS.c.delta_on_hand)
                .where(MOVEMENTS.c.variant_id == uuid.UUID(variant))
                .order_by(MOVEMENTS.c.id)
            )
        ).all()
    assert [tuple(r) for r in reasons] == [("received", 2), ("returned", 3)]
    for _ in range(2):
        undone = await orchestrator.call(
            "inventory", "unrestock_items", data, saga_type="refund", step=1, phase="compensate"
        )
        assert undone["outcome"] == "success", undone
    assert (await inventory.stock(variant))["on_hand"] == 2
    # a late re-sent restock after the undo does not add the units again
    again = await orchestrator.call("inventory", "restock_items", data, saga_type="refund")
    assert again["outcome"] == "success"
    assert (await inventory.stock(variant))["on_hand"] == 2


async def test_unknown_commands_and_bad_data_fail_without_poisoning(
    inventory: Inventory, orchestrator: SagaDriver
) -> None:
    unknown = await orchestrator.call("inventory", "teleport_stock", {"order_id": "o"})
    assert unknown["outcome"] == "failure"
    assert unknown["reason"].startswith("unknown-command: ")
    bad = await orchestrator.call("inventory", "reserve_stock", {"order_id": "o", "lines": []})
    assert bad["outcome"] == "failure"
    assert bad["reason"].startswith("invalid-command: ")
    # the consumer is still applying commands after those
    variant = await inventory.stocked(1)
    ok = await orchestrator.call(
        "inventory", "reserve_stock", checkout(str(uuid.uuid4()), [(variant, 1)])
    )
    assert ok["outcome"] == "success"


async def test_a_refused_unrestock_undoes_nothing_halfway(
    inventory: Inventory, orchestrator: SagaDriver
) -> None:
    """Two variants restocked; one's units are reserved since: the undo is refused as a whole
    (the command's savepoint), the other variant keeps its restocked units too."""
    code = await inventory.warehouse()
    free, taken = await inventory.stocked(1, code), await inventory.stocked(1, code)
    data = {
        "return_id": str(uuid.uuid4()),
        "lines": [{"variant_id": free, "quantity": 2}, {"variant_id": taken, "quantity": 2}],
    }
    restocked = await orchestrator.call("inventory", "restock_items", data, saga_type="refund")
    assert restocked["outcome"] == "success"
    reserved = await orchestrator.call(
        "inventory", "reserve_stock", checkout(str(uuid.uuid4()), [(taken, 3)])
    )
    assert reserved["outcome"] == "success"
    undone = await orchestrator.call(
        "inventory", "unrestock_items", data, saga_type="refund", phase="compensate"
    )
    assert undone["outcome"] == "failure"
    assert undone["reason"].startswith("insufficient-stock: ")
    assert (await inventory.stock(free))["on_hand"] == 3
    assert (await inventory.stock(taken))["on_hand"] == 3
