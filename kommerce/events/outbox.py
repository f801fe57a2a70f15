"""The transactional outbox: events recorded in the service's own database transaction.

A service never publishes to Kafka from a request handler. It calls `record(session, message)`
inside the transaction that changes its state, so the state change and the event commit or
roll back together; the relay (`kommerce.events.relay`) later publishes the committed rows in
`id` order and marks them published.

Each service has its own `outbox` table in its own PostgreSQL schema (the connection's
`search_path`, see `kommerce.data.db.Database`). `ensure_outbox` creates it idempotently; once a
service has Alembic migrations it includes the same table there instead (the `OUTBOX` table
below is plain SQLAlchemy Core, so `metadata=OUTBOX_METADATA` works with autogenerate).

Per-key order: the relay publishes in `id` order, so two events of one aggregate arrive in the
order their rows were inserted, provided writers of one aggregate serialise (the usual row lock on
the aggregate, `SELECT ... FOR UPDATE` or an `UPDATE` of its row, held until commit).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    LargeBinary,
    MetaData,
    Table,
    Text,
    func,
    insert,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from kommerce.events.message import EVENT_ID, EncodedMessage

TABLE_NAME = "outbox"

# No schema here: the table lives in the connection's current schema (the service's).
OUTBOX_METADATA = MetaData()
OUTBOX = Table(
    TABLE_NAME,
    OUTBOX_METADATA,
    Column("id", BigInteger, primary_key=True, autoincrement=True),  # bigserial: global order
    Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("topic", Text, nullable=False),
    Column("key", LargeBinary, nullable=False),
    Column("value", LargeBinary, nullable=False),
    Column("headers", JSONB, nullable=False),  # [[name, value-as-text], ...]
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("published_at", DateTime(timezone=True), nullable=True),
)
# The relay's scan: the oldest unpublished rows, cheap however many published rows there are.
Index(
    "outbox_unpublished_idx",
    OUTBOX.c.id,
    postgresql_where=OUTBOX.c.published_at.is_(None),
)


class OutboxError(RuntimeError):
    pass


def headers_to_json(headers: Sequence[tuple[str, bytes]]) -> list[list[str]]:
    """Kafka headers as the `headers` column stores them (values are UTF-8 text by contract)."""
    out: list[list[str]] = []
    for name, value in headers:
        try:
            out.append([name, value.decode()])
        except UnicodeDecodeError as exc:
            raise OutboxError(f"header {name!r} is not UTF-8 text") from exc
    return out


def headers_from_json(stored: Sequence[Sequence[str]]) -> tuple[tuple[str, bytes], ...]:
    """The `headers` column back as Kafka headers, in their recorded order."""
    return tuple((str(name), str(value).encode()) for name, value in stored)


@dataclass(frozen=True)
class OutboxRow:
    """One recorded, not yet published event as the relay reads it."""

    id: int
    event_id: uuid.UUID
    message: EncodedMessage
    created_at: datetime


def row_to_outbox(
    row_id: int,
    event_id: uuid.UUID,
    topic: str,
    key: bytes,
    value: bytes,
    headers: Sequence[Sequence[str]],
    created_at: datetime,
) -> OutboxRow:
    message = EncodedMessage(
        topic=topic, key=bytes(key), value=bytes(value), headers=headers_from_json(headers)
    )
    return OutboxRow(id=row_id, event_id=event_id, message=message, created_at=created_at)


def outbox_values(message: EncodedMessage) -> dict[str, object]:
    """The column values `record` inserts for a message (validates the envelope)."""
    raw = message.header(EVENT_ID)
    if raw is None:
        raise OutboxError(f"message on {message.topic} has no {EVENT_ID} header")
    try:
        event_id = uuid.UUID(raw)
    except ValueError as exc:
        raise OutboxError(f"event id {raw!r} is not a UUID") from exc
    if not message.topic:
        raise OutboxError("message has no topic")
    return {
        "event_id": event_id,
        "topic": message.topic,
        "key": message.key,
        "value": message.value,
        "headers": headers_to_json(message.headers),
    }


async def record(session: AsyncSession, message: EncodedMessage) -> None:
    """Insert `message` into the outbox in the caller's transaction (nothing is committed here).

    Raises `OutboxError` for a message without a UUID event id, and the database's integrity
    error if that event id was already recorded.
    """
    await session.execute(insert(OUTBOX).values(**outbox_values(message)))


async def record_many(session: AsyncSession, messages: Sequence[EncodedMessage]) -> None:
    """`record` for several messages in one INSERT (same transaction semantics, in order)."""
    if messages:
        await session.execute(insert(OUTBOX).values([outbox_values(m) for m in messages]))


async def ensure_outbox(target: AsyncEngine | AsyncConnection) -> None:
    """Create the outbox table and its index in the current schema, if missing (idempotent).

    The schema must exist (`Database.ensure_schema`). Concurrent callers are serialised with a
    transaction-level advisory lock. Services include the same table in their Alembic migration
    once they have one; this creator is for services and tests without migrations yet.
    """
    if isinstance(target, AsyncEngine):
        async with target.begin() as conn:
            await _create(conn)
    else:
        await _create(target)


async def _create(conn: AsyncConnection) -> None:
    schema = (await conn.execute(text("SELECT current_schema()"))).scalar()
    if schema is None:
        raise OutboxError("the connection has no current schema: create the service schema first")
    await conn.execute(
        text("SELECT pg_advisory_xact_lock(hashtext(:name))"),
        {"name": f"kommerce-outbox-ddl:{schema}"},
    )
    in_schema = MetaData()
    OUTBOX.to_metadata(in_schema, schema=str(schema))
    await conn.run_sync(lambda sync: in_schema.create_all(sync, checkfirst=True))
