"""A participant command whose outcome comes later (`Deferred`): nothing is answered at first,
what the command wrote stays, and `answer()` replies later — to the attempt that was kept —
from a saved copy of the command (`saved_command`, JSON), against real PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.data.db import Database
from kommerce.events.emitter import registry
from kommerce.events.outbox import OUTBOX, ensure_outbox
from kommerce.events.participant import Deferred, Participant, restore_command, saved_command
from kommerce.events.serde import Event, decode
from kommerce.settings import KommerceSettings

pytestmark = pytest.mark.integration


@pytest.fixture
async def db(stack_env: dict[str, str]) -> AsyncIterator[Database]:
    schema = f"t_deferred_{uuid.uuid4().hex[:10]}"
    database = Database(url=KommerceSettings().async_database_url(), schema=schema)
    await database.ensure_schema()
    await ensure_outbox(database.engine)
    async with database.engine.begin() as conn:
        await conn.execute(text(f'CREATE TABLE "{schema}".effects (note text)'))
    yield database
    async with database.engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    await database.close()


def command(attempt: int) -> Event:
    return Event(
        event_id=str(uuid.uuid4()),
        type="saga.command",
        written_version=1,
        version=1,
        payload={
            "saga_id": "7f1d7a3e-0000-4000-8000-000000000001",
            "saga_type": "checkout",
            "step": 1,
            "phase": "forward",
            "name": "authorize_payment",
            "attempt": attempt,
            "participant": "payment",
            "data": json.dumps({"order_id": "o-1"}),
        },
        key="7f1d7a3e-0000-4000-8000-000000000001",
        occurred_at=datetime.now(UTC),
        producer="order",
        correlation_id="corr-1",
        causation_id=None,
        traceparent=None,
    )


async def replies(session: AsyncSession) -> list[Event]:
    rows = (await session.execute(select(OUTBOX.c.key, OUTBOX.c.value, OUTBOX.c.headers))).all()
    return [decode(registry(), key=r.key, value=r.value, headers=dict(r.headers)) for r in rows]


async def test_deferred_then_answered_from_the_saved_command(db: Database) -> None:
    kept: dict[str, Any] = {}

    async def authorize(session: AsyncSession, cmd: Event, data: dict[str, Any]) -> dict[str, Any]:
        await session.execute(text("INSERT INTO effects VALUES ('held')"))
        kept["command"] = saved_command(cmd)
        raise Deferred

    participant = Participant("payment", {"authorize_payment": authorize}, registry())
    async with db.session() as session:
        assert await participant.handle(session, command(attempt=2)) is False
    async with db.session() as session:
        assert await replies(session) == []  # no answer yet
        assert (await session.execute(text("SELECT note FROM effects"))).scalar_one() == "held"

    saved = json.loads(json.dumps(kept["command"]))  # stored as JSON with the payment
    assert restore_command(saved) == restore_command(kept["command"])
    async with db.session() as session:
        await participant.answer(session, saved, success=True, data={"payment_id": "pay_1"})
    async with db.session() as session:
        (reply,) = await replies(session)
    assert reply.type == "saga.reply"
    assert reply.payload["attempt"] == 2  # the attempt that was kept, not the first
    assert reply.payload["outcome"] == "success"
    assert json.loads(reply.payload["data"]) == {"payment_id": "pay_1"}
    assert reply.correlation_id == "corr-1"
    assert reply.causation_id == saved["event_id"]
