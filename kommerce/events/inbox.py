"""The inbox: which events a consumer has already applied, so each is applied once.

The table lives in the consumer's own schema (the `Database` sets the search_path). A consumer
inserts `(consumer, event_id)` in the same transaction as the handler's writes: if the row was
already there the event was applied before (a redelivery) and the handler is skipped; if the
transaction rolls back, neither the writes nor the inbox row exist and the event is retried.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.data.db import Database

metadata = MetaData()

inbox = Table(
    "kommerce_inbox",
    metadata,
    Column("consumer", String(200), primary_key=True),
    Column("event_id", String(200), primary_key=True),
    Column("topic", String(255), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


async def ensure_inbox(database: Database) -> None:
    """Create the consumer's schema and inbox table if missing (safe to run concurrently)."""
    async with database.engine.begin() as conn:
        # Serialise concurrent creators: IF NOT EXISTS alone races on the catalog.
        await conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:name))"),
            {"name": f"kommerce-inbox:{database.schema}"},
        )
        await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{database.schema}"'))
        await conn.execute(text(f'SET LOCAL search_path TO "{database.schema}"'))
        await conn.run_sync(metadata.create_all, checkfirst=True)


async def record(
    session: AsyncSession,
    *,
    consumer: str,
    event_id: str,
    topic: str,
    partition: int,
    offset: int,
) -> bool:
    """Insert the inbox row; False if `consumer` had already applied `event_id`."""
    statement = (
        insert(inbox)
        .values(
            consumer=consumer, event_id=event_id, topic=topic, partition=partition, offset=offset
        )
        .on_conflict_do_nothing(index_elements=["consumer", "event_id"])
        .returning(inbox.c.event_id)
    )
    return (await session.execute(statement)).first() is not None


async def record_many(
    session: AsyncSession, *, consumer: str, rows: list[dict[str, object]]
) -> set[str]:
    """Insert inbox rows (event_id, topic, partition, offset) in one statement.

    Returns the event ids that were new (the others had been applied before).
    """
    if not rows:
        return set()
    statement = (
        insert(inbox)
        .values([{"consumer": consumer, **row} for row in rows])
        .on_conflict_do_nothing(index_elements=["consumer", "event_id"])
        .returning(inbox.c.event_id)
    )
    return {str(event_id) for (event_id,) in (await session.execute(statement)).all()}


async def applied(session: AsyncSession, *, consumer: str, event_id: str) -> bool:
    """Whether `consumer` has applied `event_id`."""
    found = await session.execute(
        inbox.select().where(inbox.c.consumer == consumer, inbox.c.event_id == event_id)
    )
    return found.first() is not None
