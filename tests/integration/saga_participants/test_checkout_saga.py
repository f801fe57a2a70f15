"""The checkout saga shape end to end on the real participants: the core orchestrator
(kommerce.events.saga) in a schema of its own, with its relay publishing the commands and a
consumer feeding it the replies, drives the real inventory app and the payment sandbox through
Kafka — the contract of docs/saga-participants.md as the order service will use it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.background import Background
from kommerce.data.db import Database
from kommerce.events.consumer import ConsumedMessage, Consumer
from kommerce.events.outbox import ensure_outbox
from kommerce.events.saga import (
    Orchestrator,
    SagaDefinition,
    Status,
    Step,
    ensure_saga_tables,
    show,
)
from kommerce.events.serde import decode
from kommerce.settings import KommerceSettings
from tests.integration.apps import eventually
from tests.integration.order_topics import BERLIN
from tests.integration.saga_participants.conftest import (
    REGISTRY,
    Inventory,
    PaymentSandbox,
)

pytestmark = pytest.mark.integration

CHECKOUT = SagaDefinition(
    name="checkout",
    steps=(
        Step(
            "reserve_stock",
            "inventory",
            compensation="release_stock",
            timeout=timedelta(seconds=30),
        ),
        Step(
            "authorize_payment",
            "payment",
            compensation="void_authorization",
            timeout=timedelta(seconds=30),
        ),
        Step("commit_stock", "inventory", timeout=timedelta(seconds=30)),
    ),
    producer="order",
)


class Saga:
    def __init__(self, db: Database, orchestrator: Orchestrator) -> None:
        self.db = db
        self.orchestrator = orchestrator

    async def start(self, data: dict[str, Any]) -> uuid.UUID:
        async with self.db.session() as session:
            return await self.orchestrator.start(session, data)

    async def finished(self, saga_id: uuid.UUID) -> dict[str, Any]:
        async def final() -> dict[str, Any] | None:
            async with self.db.session() as session:
                shown = await show(session, saga_id)
            return (
                shown
                if shown and shown["status"] in {"completed", "compensated", "failed"}
                else None
            )

        found: dict[str, Any] = await eventually(final, seconds=30, what=f"saga {saga_id} ends")
        return found


@pytest.fixture(scope="module")
async def saga(
    inventory: Inventory, payment_sandbox: PaymentSandbox, stack_env: dict[str, str]
) -> AsyncIterator[Saga]:
    settings = KommerceSettings()
    schema = f"t_checkout_{uuid.uuid4().hex[:8]}"
    db = Database(url=settings.async_database_url(), schema=schema)
    await db.ensure_schema()
    await ensure_outbox(db.engine)
    await ensure_saga_tables(db.engine)
    orchestrator = Orchestrator(CHECKOUT, REGISTRY)

    async def on_reply(message: ConsumedMessage, session: AsyncSession) -> None:
        if message.value is not None:
            event = decode(REGISTRY, key=message.key, value=message.value, headers=message.headers)
            await orchestrator.on_reply(session, event)

    work = Background("test-orchestrator")
    await work.relay(settings, schema=schema, registry=CollectorRegistry())
    await work.consumer(
        Consumer(
            group=f"orchestrator-{schema}",
            topics=[CHECKOUT.reply_topic],
            handler=on_reply,
            database=db,
            bootstrap=stack_env["KOMMERCE_KAFKA_BOOTSTRAP"],  # earlier runs' replies: no saga
        )
    )
    try:
        yield Saga(db, orchestrator)
    finally:
        await work.stop()
        async with db.engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await db.close()


def checkout(lines: list[tuple[str, int]], method: str) -> dict[str, Any]:
    return {
        "order_id": str(uuid.uuid4()),
        "order_number": "K-3",
        "customer_id": str(uuid.uuid4()),
        "currency": "EUR",
        "amount_minor": 1999,
        "payment_method": method,
        "lines": [{"variant_id": v, "quantity": q} for v, q in lines],
        "ship_to": BERLIN,
        "reservation_ttl_seconds": 900,
    }


async def test_a_paid_checkout_completes(
    saga: Saga, inventory: Inventory, payment_sandbox: PaymentSandbox
) -> None:
    variant = await inventory.stocked(3)
    saga_id = await saga.start(checkout([(variant, 2)], "pm_card_visa"))
    done = await saga.finished(saga_id)
    assert done["status"] == Status.COMPLETED, done
    data = done["data"]
    assert (await inventory.reservation(data["reservation_id"]))["status"] == "confirmed"
    assert (await payment_sandbox.payment(data["payment_id"]))["status"] == "authorized"
    stock = await inventory.stock(variant)
    assert (stock["on_hand"], stock["reserved"]) == (1, 0)


async def test_a_declined_card_releases_the_stock(
    saga: Saga, inventory: Inventory, payment_sandbox: PaymentSandbox
) -> None:
    variant = await inventory.stocked(3)
    data = checkout([(variant, 2)], "pm_card_chargeDeclinedInsufficientFunds")
    saga_id = await saga.start(data)
    done = await saga.finished(saga_id)
    assert done["status"] == Status.COMPENSATED, done
    assert done["error"] == "card_declined: insufficient_funds"
    assert (await inventory.reservation(done["data"]["reservation_id"]))["status"] == "released"
    assert await payment_sandbox.of_order(data["order_id"]) == []
    stock = await inventory.stock(variant)
    assert (stock["on_hand"], stock["reserved"]) == (3, 0)


async def test_too_little_stock_cancels_before_payment(
    saga: Saga, inventory: Inventory, payment_sandbox: PaymentSandbox
) -> None:
    variant = await inventory.stocked(1)
    data = checkout([(variant, 2)], "pm_card_visa")
    saga_id = await saga.start(data)
    done = await saga.finished(saga_id)
    assert done["status"] == Status.COMPENSATED, done
    assert done["error"].startswith("insufficient-stock: ")
    assert await payment_sandbox.of_order(data["order_id"]) == []
