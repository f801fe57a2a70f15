"""A CQRS read model (orders per customer) from real Kafka into PostgreSQL, and its rebuild."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy import BigInteger, Column, Integer, MetaData, Table, Text, delete, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.data.db import Database
from kommerce.events.projection import POSITIONS, Projection, ProjectionRunner, ensure_positions
from kommerce.events.schemas import Registry
from kommerce.events.serde import Event, encode
from kommerce.settings import KommerceSettings

pytestmark = pytest.mark.integration
REGISTRY = Registry.load()
METADATA = MetaData()
BY_CUSTOMER = Table(
    "orders_by_customer",
    METADATA,
    Column("customer_id", Text, primary_key=True),
    Column("orders", Integer, nullable=False),
    Column("total_minor", BigInteger, nullable=False),
)


async def apply(session: AsyncSession, event: Event) -> None:
    p = event.payload
    await session.execute(
        insert(BY_CUSTOMER)
        .values(customer_id=p["customer_id"], orders=1, total_minor=p["total_minor"])
        .on_conflict_do_update(
            index_elements=["customer_id"],
            set_={
                "orders": BY_CUSTOMER.c.orders + 1,
                "total_minor": BY_CUSTOMER.c.total_minor + p["total_minor"],
            },
        )
    )


async def reset(session: AsyncSession) -> None:
    await session.execute(delete(BY_CUSTOMER))


async def _database(schema: str) -> Database:
    database = Database(url=KommerceSettings().async_database_url(), schema=schema)
    await database.ensure_schema()
    async with database.engine.begin() as conn:
        await conn.run_sync(METADATA.create_all)
    await ensure_positions(database.engine)
    return database


@pytest.fixture
async def databases(stack_env: dict[str, str]) -> AsyncIterator[list[Database]]:
    made: list[Database] = []
    yield made
    for database in made:
        async with database.engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{database.schema}" CASCADE'))
        await database.close()


@pytest.fixture
async def topic(stack_env: dict[str, str]) -> str:
    name = f"it.projection.{uuid.uuid4().hex[:8]}.v1"
    admin = AIOKafkaAdminClient(bootstrap_servers=stack_env["KOMMERCE_KAFKA_BOOTSTRAP"])
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()
    return name


async def _publish(bootstrap: str, topic: str, count: int, start: int = 0) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        for i in range(start, start + count):
            msg = encode(
                REGISTRY,
                "order.placed",
                {
                    "order_id": f"o-{i}",
                    "customer_id": f"c-{i % 7}",
                    "currency": "EUR",
                    "total_minor": 100 + i,
                    "lines": [],
                    "channel": "web",
                },
                producer="test",
                topic=topic,
            )
            await producer.send(topic, msg.value, key=msg.key, headers=list(msg.headers))
        await producer.flush()
    finally:
        await producer.stop()


async def _read_model(database: Database) -> dict[str, tuple[int, int]]:
    async with database.session() as session:
        rows = await session.execute(select(BY_CUSTOMER))
        return {r.customer_id: (r.orders, r.total_minor) for r in rows}


def _expected(count: int) -> dict[str, tuple[int, int]]:
    out: dict[str, Any] = {}
    for i in range(count):
        orders, total = out.get(f"c-{i % 7}", (0, 0))
        out[f"c-{i % 7}"] = (orders + 1, total + 100 + i)
    return out


async def test_projection_resumes_and_a_rebuild_equals_the_live_model(
    stack_env: dict[str, str], databases: list[Database], topic: str
) -> None:
    bootstrap = stack_env["KOMMERCE_KAFKA_BOOTSTRAP"]
    live = await _database(f"t_proj_{uuid.uuid4().hex[:8]}")
    databases.append(live)
    projection = Projection("orders_by_customer", (topic,), apply, reset)
    runner = ProjectionRunner(projection, database=live, bootstrap=bootstrap, registry=REGISTRY)
    await _publish(bootstrap, topic, 60)
    assert await runner.run_until_caught_up() == 60
    await _publish(bootstrap, topic, 40, start=60)
    assert await runner.run_until_caught_up() == 40  # resumed from the stored position
    assert await _read_model(live) == _expected(100)
    async with live.session() as session:
        stored = (await session.execute(select(POSITIONS.c.next_offset))).scalars().all()
    assert sum(stored) == 100  # the position lives beside the data

    # A brand-new read model elsewhere, built only by replay, equals the live one.
    fresh = await _database(f"t_proj_{uuid.uuid4().hex[:8]}")
    databases.append(fresh)
    replayed = ProjectionRunner(projection, database=fresh, bootstrap=bootstrap, registry=REGISTRY)
    assert await replayed.run_until_caught_up() == 100
    assert await _read_model(fresh) == await _read_model(live)

    # Rebuilding in place empties model and positions together and replays everything once.
    assert await runner.rebuild() == 100
    assert await _read_model(live) == _expected(100)
