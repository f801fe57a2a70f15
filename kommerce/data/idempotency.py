"""Idempotent requests stored in PostgreSQL, in the transaction that does the work.

    stored = await idempotency.claim(session, owner=user_id, key=key, fingerprint=fp)
    if stored is not None:
        return stored.replay()            # the first request's response, or a 409
    ... create the order ...
    await idempotency.remember(session, owner=user_id, key=key, status=201, body=out)

`claim` inserts `(owner, key, fingerprint)` with ON CONFLICT DO NOTHING. While the first request's
transaction is open the row is uncommitted, so a concurrent duplicate's INSERT waits on it — no
lock table, no polling: when the first commits, the duplicate sees its stored response; when it
rolls back (a problem such as a changed price), the duplicate proceeds as the first. Because the
row commits with the work, a crash can never leave "key used, work lost" or the reverse.

Only successful responses are stored: a request that ends in a problem rolls back, key included,
so the client can fix the cause (accept a new price) and retry with the same key. The same key
with a different request body is a 409 `idempotency-key-reused`.

The table lives in each service's schema (`IDEMPOTENCY_KEYS.to_metadata(METADATA)`).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Header
from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.http.errors import Conflict, Problem

IDEMPOTENCY_METADATA = MetaData()
IDEMPOTENCY_KEYS = Table(
    "idempotency_keys",
    IDEMPOTENCY_METADATA,
    Column("owner", Text, nullable=False),  # whose key: keys are per caller
    Column("key", Text, nullable=False),
    Column("fingerprint", Text, nullable=False),  # sha256 of the canonical request body
    Column("status_code", Integer, nullable=True),
    Column("response", JSONB, nullable=True),
    Column("resource_id", UUID(as_uuid=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("owner", "key"),
    Index("idempotency_keys_created_idx", "created_at"),
)
HEADER = "Idempotency-Key"
KEY_PATTERN = r"^[A-Za-z0-9_.:-]{8,255}$"


class KeyReused(Conflict):
    slug, title = "idempotency-key-reused", "The idempotency key was used for another request"


class KeyMissing(Problem):
    status, slug, title = 428, "idempotency-key-required", "An Idempotency-Key header is required"


async def required_key(
    key: Annotated[
        str | None,
        Header(
            alias=HEADER,
            pattern=KEY_PATTERN,
            description="a unique key per attempt (8-255 of A-Z a-z 0-9 _ . : -); the same "
            "key and body return the same response",
        ),
    ] = None,
) -> str:
    """A FastAPI dependency: the request's key, or a 428 before the body is even validated."""
    if key is None:
        raise KeyMissing(
            f"send an {HEADER} header (e.g. a UUID) so a retried request cannot take effect twice"
        )
    return key


IdempotencyKey = Annotated[str, Depends(required_key)]


def fingerprint(body: Any) -> str:
    """The request body's identity: sha256 of its canonical JSON (key order does not matter)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Stored:
    status_code: int
    response: Any
    resource_id: uuid.UUID | None


async def claim(session: AsyncSession, *, owner: str, key: str, fingerprint: str) -> Stored | None:
    """Take the key for this request (None: go ahead) or return the stored response.

    Raises `KeyReused` when the key was used with a different body."""
    taken = (
        await session.execute(
            pg_insert(IDEMPOTENCY_KEYS)
            .values(owner=owner, key=key, fingerprint=fingerprint)
            .on_conflict_do_nothing()
            .returning(IDEMPOTENCY_KEYS.c.key)
        )
    ).first()
    if taken is not None:
        return None
    row = (
        (
            await session.execute(
                select(IDEMPOTENCY_KEYS).where(
                    IDEMPOTENCY_KEYS.c.owner == owner, IDEMPOTENCY_KEYS.c.key == key
                )
            )
        )
        .mappings()
        .one()
    )
    if row["fingerprint"] != fingerprint:
        raise KeyReused(
            f"Idempotency-Key {key!r} was first used with a different request body; "
            "use a new key for a new request"
        )
    return Stored(row["status_code"], row["response"], row["resource_id"])


async def remember(
    session: AsyncSession,
    *,
    owner: str,
    key: str,
    status_code: int,
    response: Any,
    resource_id: uuid.UUID | None = None,
) -> None:
    await session.execute(
        update(IDEMPOTENCY_KEYS)
        .where(IDEMPOTENCY_KEYS.c.owner == owner, IDEMPOTENCY_KEYS.c.key == key)
        .values(status_code=status_code, response=response, resource_id=resource_id)
    )


async def forget_older_than(session: AsyncSession, age: timedelta) -> int:
    """Delete keys older than `age` (a periodic job); returns how many."""
    result = await session.execute(
        delete(IDEMPOTENCY_KEYS).where(IDEMPOTENCY_KEYS.c.created_at < datetime.now(UTC) - age)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
