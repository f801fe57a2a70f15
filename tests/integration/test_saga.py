"""The checkout saga shape against real PostgreSQL: success, every compensation path, timeouts.

The orchestrator's commands leave through its outbox; here small participant "services"
(inventory, payment, order) read them from there, decide, and answer with `saga.reply`
messages, which are decoded and handed to the orchestrator as a consumer would.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text, update

from kommerce.data.db import Database
from kommerce.events import message as m
from kommerce.events.outbox import OUTBOX, ensure_outbox
from kommerce.events.saga import (
    SAGAS,
    Orchestrator,
    SagaDefinition,
    Status,
    Step,
    ensure_saga_tables,
    reply,
    show,
)
from kommerce.events.schemas import Registry
from kommerce.events.serde import Event, decode
from kommerce.settings import KommerceSettings
from tests.helpers import kommerce

pytestmark = pytest.mark.integration

CHECKOUT = SagaDefinition(
    name="checkout",
    steps=(
        Step("reserve_stock", "inventory", compensation="release_stock", retries=1),
        Step("authorize_payment", "payment", compensation="void_authorization", retries=1),
        Step("confirm_order", "order"),
    ),
)
REGISTRY = Registry.load()
Participant = Callable[[Event], tuple[bool, str, dict[str, Any]] | None]


@pytest.fixture
async def db(stack_env: dict[str, str]) -> AsyncIterator[Database]:
    schema = f"t_saga_{uuid.uuid4().hex[:10]}"
    database = Database(url=KommerceSettings().async_database_url(), schema=schema)
    await database.ensure_schema()
    await ensure_outbox(database.engine)
    await ensure_saga_tables(database.engine)
    yield database
    async with database.engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    await database.close()


def _succeed(_command: Event) -> tuple[bool, str, dict[str, Any]]:
    return True, "", {}


class World:
    """Participants that answer commands, and a log of what each one did."""

    def __init__(self, db: Database, **behaviour: Participant) -> None:
        self.db = db
        self.orchestrator = Orchestrator(CHECKOUT, REGISTRY)
        self.behaviour = behaviour
        self.done: list[str] = []
        self._seen = 0

    async def commands(self) -> list[Event]:
        async with self.db.session() as session:
            rows = (
                (await session.execute(select(OUTBOX).where(OUTBOX.c.id > self._seen)))
                .mappings()
                .all()
            )
        if rows:
            self._seen = rows[-1]["id"]
        return [
            decode(REGISTRY, key=r["key"], value=r["value"], headers=dict(r["headers"]))
            for r in rows
        ]

    async def run(self, *, max_rounds: int = 20) -> None:
        """Deliver commands to participants and their replies back until nothing moves."""
        for _ in range(max_rounds):
            commands = await self.commands()
            if not commands:
                return
            for command in commands:
                name = command.payload["name"]
                answer = self.behaviour.get(name, _succeed)(command)
                if answer is None:  # the participant is down: no reply
                    continue
                self.done.append(name)
                ok, reason, data = answer
                msg = reply(REGISTRY, command, success=ok, producer="t", reason=reason, data=data)
                event = decode(
                    REGISTRY, key=msg.key, value=msg.value, headers=m.headers_dict(msg.headers)
                )
                async with self.db.session() as session:
                    await self.orchestrator.on_reply(session, event)

    async def start(self) -> uuid.UUID:
        async with self.db.session() as session:
            return await self.orchestrator.start(session, {"order_id": "o-1", "total": 2500})

    async def status(self, saga_id: uuid.UUID) -> dict[str, Any]:
        async with self.db.session() as session:
            shown = await show(session, saga_id)
        assert shown is not None
        return shown


async def test_success_runs_every_step_and_merges_data(db: Database) -> None:
    world = World(
        db,
        reserve_stock=lambda c: (True, "", {"reservation_id": "r-1"}),
        authorize_payment=lambda c: (True, "", {"payment_id": "p-1"}),
    )
    saga_id = await world.start()
    await world.run()
    assert world.done == ["reserve_stock", "authorize_payment", "confirm_order"]
    state = await world.status(saga_id)
    assert state["status"] == Status.COMPLETED
    assert state["data"] == {
        "order_id": "o-1",
        "total": 2500,
        "reservation_id": "r-1",
        "payment_id": "p-1",
    }
    # Commands carry the saga as correlation and are routed per participant.
    async with db.session() as session:
        topics = (await session.execute(select(OUTBOX.c.topic).order_by(OUTBOX.c.id))).scalars()
        assert list(topics) == [
            "inventory.commands.v1",
            "payment.commands.v1",
            "order.commands.v1",
        ]


async def test_payment_declined_releases_the_stock(db: Database) -> None:
    world = World(db, authorize_payment=lambda c: (False, "card declined", {}))
    saga_id = await world.start()
    await world.run()
    assert world.done == ["reserve_stock", "authorize_payment", "release_stock"]
    state = await world.status(saga_id)
    assert (state["status"], state["error"]) == (Status.COMPENSATED, "card declined")


async def test_stock_unavailable_compensates_nothing(db: Database) -> None:
    world = World(db, reserve_stock=lambda c: (False, "out of stock", {}))
    saga_id = await world.start()
    await world.run()
    assert world.done == ["reserve_stock"]
    assert (await world.status(saga_id))["status"] == Status.COMPENSATED


async def test_confirm_failure_voids_payment_then_releases_stock(db: Database) -> None:
    world = World(db, confirm_order=lambda c: (False, "order cancelled meanwhile", {}))
    saga_id = await world.start()
    await world.run()
    assert world.done == [
        "reserve_stock",
        "authorize_payment",
        "confirm_order",
        "void_authorization",
        "release_stock",
    ]
    assert (await world.status(saga_id))["status"] == Status.COMPENSATED


async def _expire(db: Database, saga_id: uuid.UUID) -> None:
    async with db.session() as session:
        await session.execute(
            update(SAGAS)
            .where(SAGAS.c.id == saga_id)
            .values(deadline=datetime.now(UTC) - timedelta(seconds=1))
        )


async def test_timeout_retries_then_compensates(db: Database) -> None:
    silent_payment: Participant = lambda c: None  # noqa: E731 - the payment service is down
    world = World(db, authorize_payment=silent_payment)
    saga_id = await world.start()
    await world.run()
    for _ in range(2):  # the first timeout re-sends (retries=1), the second gives up
        await _expire(db, saga_id)
        async with db.session() as session:
            assert await world.orchestrator.on_timeouts(session) == 1
        await world.run()
    state = await world.status(saga_id)
    assert state["status"] == Status.COMPENSATED
    assert state["error"] == "authorize_payment timed out after 2 attempt(s)"
    # the payment may have been authorized unseen: it is voided before the stock is released
    assert world.done == ["reserve_stock", "void_authorization", "release_stock"]
    attempts = [e["detail"] for e in state["log"] if e["what"] == "sent authorize_payment"]
    assert attempts == ["attempt 1", "attempt 2"]


async def test_a_silent_participant_is_undone_on_a_best_effort_basis(db: Database) -> None:
    """Payment down for good: the void of the timed-out authorization times out as well; the
    stock is released all the same and the saga ends `failed` for a human to confirm."""
    world = World(db, authorize_payment=lambda c: None, void_authorization=lambda c: None)
    saga_id = await world.start()
    await world.run()
    for _ in range(4):  # authorize: 2 attempts; then void_authorization: 2 attempts
        await _expire(db, saga_id)
        async with db.session() as session:
            assert await world.orchestrator.on_timeouts(session) == 1
        await world.run()
    state = await world.status(saga_id)
    assert state["status"] == Status.FAILED
    assert world.done == ["reserve_stock", "release_stock"]
    assert state["error"] == (
        "authorize_payment timed out after 2 attempt(s); compensation not confirmed: "
        "void_authorization timed out after 2 attempt(s)"
    )


async def test_late_reply_after_a_retry_is_ignored(db: Database) -> None:
    captured: list[Event] = []

    def slow(command: Event) -> None:
        captured.append(command)

    world = World(db, authorize_payment=slow)
    saga_id = await world.start()
    await world.run()
    await _expire(db, saga_id)
    async with db.session() as session:
        await world.orchestrator.on_timeouts(session)
    await world.run()
    first, second = captured
    assert (first.payload["attempt"], second.payload["attempt"]) == (1, 2)
    late = reply(REGISTRY, first, success=True, producer="t")
    event = decode(REGISTRY, key=late.key, value=late.value, headers=m.headers_dict(late.headers))
    async with db.session() as session:
        assert await world.orchestrator.on_reply(session, event) is None  # stale: attempt 1
    state = await world.status(saga_id)
    assert state["status"] == Status.RUNNING
    assert any(e["what"] == "stale reply ignored" for e in state["log"])


async def test_failed_compensation_stops_as_failed(db: Database) -> None:
    world = World(
        db,
        authorize_payment=lambda c: (False, "declined", {}),
        release_stock=lambda c: (False, "inventory rejected the release", {}),
    )
    saga_id = await world.start()
    await world.run()
    state = await world.status(saga_id)
    assert (state["status"], state["error"]) == (Status.FAILED, "inventory rejected the release")


async def test_saga_show_cli(db: Database, stack_env: dict[str, str]) -> None:
    world = World(db)
    saga_id = await world.start()
    await world.run()
    done = kommerce("saga", "show", str(saga_id), "--schema", db.schema)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "checkout" in done.stdout
    assert "completed" in done.stdout
    assert "sent confirm_order" in done.stdout
    shown = kommerce("saga", "show", str(saga_id), "--schema", db.schema, "--json")
    assert json.loads(shown.stdout)["status"] == "completed"
    missing = kommerce("saga", "show", str(uuid.uuid4()), "--schema", db.schema)
    assert missing.returncode == 1
    assert "no saga" in missing.stderr
