"""The whole backbone: a service records Avro events in its transactions, the relay publishes
them, another service's consumer decodes them into its model through its inbox (real Kafka and
PostgreSQL), and a saga is driven end to end by Kafka messages."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client import CollectorRegistry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.data.db import Database
from kommerce.events.consumer import ConsumedMessage, Consumer, ConsumerMetrics
from kommerce.events.outbox import ensure_outbox, record
from kommerce.events.relay import Relay, relay_metrics
from kommerce.events.saga import (
    Orchestrator,
    SagaDefinition,
    Status,
    Step,
    command_topic,
    ensure_saga_tables,
    reply,
    show,
)
from kommerce.events.schemas import Registry
from kommerce.events.serde import decode, encode
from kommerce.settings import KommerceSettings

pytestmark = pytest.mark.integration
REGISTRY = Registry.load()


@pytest.fixture
async def schemas(stack_env: dict[str, str]) -> AsyncIterator[list[Database]]:
    made: list[Database] = []
    yield made
    for database in made:
        async with database.engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{database.schema}" CASCADE'))
        await database.close()


async def _database(made: list[Database], prefix: str) -> Database:
    database = Database(
        url=KommerceSettings().async_database_url(), schema=f"t_{prefix}_{uuid.uuid4().hex[:8]}"
    )
    await database.ensure_schema()
    await ensure_outbox(database.engine)
    made.append(database)
    return database


async def _topics(bootstrap: str, *names: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(n, num_partitions=3, replication_factor=1) for n in names]
        )
    finally:
        await admin.close()


def _relay(database: Database, bootstrap: str) -> Relay:
    return Relay(
        database_url=KommerceSettings().async_database_url(),
        schema=database.schema,
        bootstrap=bootstrap,
        poll_interval=0.05,
        metrics=relay_metrics(CollectorRegistry()),
    )


def _consumer(database: Database, bootstrap: str, topics: list[str], handler: Any) -> Consumer:
    return Consumer(
        group=f"g-{uuid.uuid4().hex[:8]}",
        topics=topics,
        handler=handler,
        database=database,
        bootstrap=bootstrap,
        metrics=ConsumerMetrics.create(CollectorRegistry()),
    )


async def _until(check: Any, seconds: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_outbox_to_consumer_end_to_end(
    stack_env: dict[str, str], schemas: list[Database]
) -> None:
    bootstrap = stack_env["KOMMERCE_KAFKA_BOOTSTRAP"]
    topic = f"it.e2e.{uuid.uuid4().hex[:8]}.v1"
    await _topics(bootstrap, topic)
    orders = await _database(schemas, "orders")
    analytics = await _database(schemas, "analytics")
    async with analytics.session() as session:
        await session.execute(
            text("CREATE TABLE revenue (order_id text PRIMARY KEY, total bigint)")
        )
    applied: list[str] = []

    async def on_order_placed(message: ConsumedMessage, session: AsyncSession) -> None:
        event = decode(REGISTRY, key=message.key, value=message.value, headers=message.headers)
        applied.append(event.event_id)
        await session.execute(
            text("INSERT INTO revenue VALUES (:o, :t)"),
            {"o": event.payload["order_id"], "t": event.payload["total_minor"]},
        )

    relay = _relay(orders, bootstrap)
    consumer = _consumer(analytics, bootstrap, [topic], on_order_placed)
    await relay.start()
    consuming = asyncio.create_task(consumer.run())
    try:
        for batch in range(5):
            async with orders.session() as session:  # the service's own transaction
                for i in range(batch * 10, batch * 10 + 10):
                    payload = {
                        "order_id": f"o-{i}",
                        "customer_id": "c-1",
                        "currency": "EUR",
                        "total_minor": i,
                        "lines": [],
                        "channel": "web",
                    }
                    await record(
                        session,
                        encode(REGISTRY, "order.placed", payload, producer="order", topic=topic),
                    )
        await _until(lambda: len(applied) >= 50)
    finally:
        await consumer.stop()
        await consuming
        await relay.stop()
    async with analytics.session() as session:
        rows = (await session.execute(text("SELECT count(*), sum(total) FROM revenue"))).one()
    assert tuple(rows) == (50, sum(range(50)))
    assert len(set(applied)) == 50


async def test_checkout_saga_driven_through_kafka(
    stack_env: dict[str, str], schemas: list[Database]
) -> None:
    """Orchestrator and two participant services, each with its own outbox, relay and inbox."""
    bootstrap = stack_env["KOMMERCE_KAFKA_BOOTSTRAP"]
    saga_name = f"checkout{uuid.uuid4().hex[:6]}"
    definition = SagaDefinition(
        name=saga_name,
        steps=(
            Step("reserve_stock", f"inv{saga_name}", compensation="release_stock"),
            Step("authorize_payment", f"pay{saga_name}"),
        ),
    )
    await _topics(
        bootstrap,
        definition.reply_topic,
        *(command_topic(s.participant) for s in definition.steps),
    )
    order_db = await _database(schemas, "order")
    await ensure_saga_tables(order_db.engine)
    inventory_db = await _database(schemas, "inv")
    payment_db = await _database(schemas, "pay")
    orchestrator = Orchestrator(definition, REGISTRY)
    handled: list[str] = []

    def participant(name: str, decline: bool = False) -> Any:
        async def handle(message: ConsumedMessage, session: AsyncSession) -> None:
            command = decode(
                REGISTRY, key=message.key, value=message.value, headers=message.headers
            )
            handled.append(command.payload["name"])
            declined = decline and command.payload["data"].find("decline") >= 0
            await record(
                session,
                reply(REGISTRY, command, success=not declined, producer=name, reason="declined"),
            )

        return handle

    async def on_reply(message: ConsumedMessage, session: AsyncSession) -> None:
        event = decode(REGISTRY, key=message.key, value=message.value, headers=message.headers)
        await orchestrator.on_reply(session, event)

    relays = [_relay(db, bootstrap) for db in (order_db, inventory_db, payment_db)]
    consumers = [
        _consumer(order_db, bootstrap, [definition.reply_topic], on_reply),
        _consumer(
            inventory_db,
            bootstrap,
            [command_topic(definition.steps[0].participant)],
            participant("inventory"),
        ),
        _consumer(
            payment_db,
            bootstrap,
            [command_topic(definition.steps[1].participant)],
            participant("payment", decline=True),
        ),
    ]
    for relay in relays:
        await relay.start()
    tasks = [asyncio.create_task(c.run()) for c in consumers]
    try:
        async with order_db.session() as session:
            ok = await orchestrator.start(session, {"order_id": "o-1"})
            declined = await orchestrator.start(session, {"order_id": "o-2", "decline": True})

        async def status(saga_id: uuid.UUID) -> str:
            async with order_db.session() as session:
                found = await show(session, saga_id)
            return str((found or {}).get("status"))

        for _ in range(600):
            if {await status(ok), await status(declined)} <= {"completed", "compensated"}:
                break
            await asyncio.sleep(0.1)
        assert await status(ok) == Status.COMPLETED
        assert await status(declined) == Status.COMPENSATED
        assert sorted(handled) == sorted(
            [
                "reserve_stock",
                "authorize_payment",
                "reserve_stock",
                "authorize_payment",
                "release_stock",
            ]
        )
    finally:
        for consumer in consumers:
            await consumer.stop()
        await asyncio.gather(*tasks)
        for relay in relays:
            await relay.stop()
