"""Saga orchestration: a persisted state machine that drives steps and compensations by messages.

A saga definition is an ordered list of steps; each sends a command to a participant
(`<participant>.commands.v1`, schema `saga.command`) and waits for its reply
(`<saga>.replies.v1`, schema `saga.reply`). A success moves to the next step (the reply's `data`
is merged into the saga's data); a failure — or a timeout after the step's retries — starts
compensation: the completed steps' compensations run in reverse order, each awaited the same
way. A step that timed out is compensated too (its effect may have happened unseen), on a best
effort basis (`_fail_step`). Final states: `completed`, `compensated`, or `failed` (a
compensation itself failed: a human looks at it, `kommerce saga show ID`).

State lives in the orchestrator's own database (`sagas`, `saga_log`), and every command goes
out through the transactional outbox in the same transaction that changes the state, so a crash
can only cause a command to be sent again (participants are idempotent through their inbox),
never a lost or phantom step. Replies for another step, phase or an older attempt are ignored
(logged), so a late reply after a timeout retry cannot move the saga twice.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    Table,
    Text,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from kommerce.data.db import create_tables
from kommerce.events import outbox
from kommerce.events.schemas import Registry
from kommerce.events.serde import Event, encode

SAGA_METADATA = MetaData()
SAGAS = Table(
    "sagas",
    SAGA_METADATA,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("type", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("phase", Text, nullable=False),
    Column("step", Integer, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("data", JSONB, nullable=False),
    Column("deadline", DateTime(timezone=True), nullable=True),
    Column("error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
SAGA_LOG = Table(
    "saga_log",
    SAGA_METADATA,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("saga_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("step", Integer, nullable=False),
    Column("phase", Text, nullable=False),
    Column("what", Text, nullable=False),
    Column("detail", Text, nullable=False, server_default=""),
)


class Status(StrEnum):
    RUNNING = "running"
    COMPENSATING = "compensating"
    COMPLETED = "completed"
    COMPENSATED = "compensated"
    FAILED = "failed"


FINAL = {Status.COMPLETED, Status.COMPENSATED, Status.FAILED}
# Keys the orchestrator keeps in a saga's data: why the saga is compensating, the timed-out
# step being undone on suspicion, and what could not be confirmed undone.
FAILURE = "_failure"
UNCERTAIN = "_uncertain_step"
UNDO_FAILED = "_undo_failed"


@dataclass(frozen=True)
class Step:
    name: str  # e.g. reserve_stock
    participant: str  # e.g. inventory -> inventory.commands.v1
    compensation: str | None = None  # e.g. release_stock; None: nothing to undo
    timeout: timedelta = timedelta(seconds=30)
    retries: int = 2  # re-sends after a timeout before the step counts as failed


@dataclass(frozen=True)
class SagaDefinition:
    name: str  # e.g. checkout -> replies on checkout.replies.v1
    steps: tuple[Step, ...]
    producer: str = "saga-orchestrator"

    @property
    def reply_topic(self) -> str:
        return f"{self.name}.replies.v1"


def command_topic(participant: str) -> str:
    return f"{participant}.commands.v1"


async def ensure_saga_tables(target: AsyncEngine | AsyncConnection) -> None:
    """Create `sagas` and `saga_log` in the current schema if missing (idempotent)."""
    await create_tables(target, SAGA_METADATA)


@dataclass
class _State:
    id: uuid.UUID
    status: Status
    phase: str
    step: int
    attempt: int
    data: dict[str, Any] = field(default_factory=dict)


class Orchestrator:
    """Runs one saga definition; every method works inside the caller's transaction."""

    def __init__(self, definition: SagaDefinition, registry: Registry) -> None:
        self.definition = definition
        self.registry = registry

    # --- transitions ------------------------------------------------------------------------

    async def start(
        self, session: AsyncSession, data: dict[str, Any], *, saga_id: uuid.UUID | None = None
    ) -> uuid.UUID:
        saga_id = saga_id or uuid.uuid4()
        await session.execute(
            insert(SAGAS).values(
                id=saga_id,
                type=self.definition.name,
                status=Status.RUNNING.value,
                phase="forward",
                step=0,
                attempt=1,
                data=data,
            )
        )
        await self._log(session, saga_id, 0, "forward", "started", json.dumps(data))
        state = _State(saga_id, Status.RUNNING, "forward", 0, 1, data)
        await self._send(session, state)
        return saga_id

    async def on_reply(self, session: AsyncSession, reply: Event) -> Status | None:
        """Apply a participant's reply; returns the new status (None: the reply was stale)."""
        p = reply.payload
        state = await self._lock(session, uuid.UUID(p["saga_id"]))
        if state is None or state.status in FINAL:
            return None
        current = (state.step, state.phase, state.attempt)
        if (p["step"], p["phase"], p["attempt"]) != current:
            await self._log(
                session, state.id, p["step"], p["phase"], "stale reply ignored", p["outcome"]
            )
            return None
        if p["outcome"] == "success":
            state.data |= json.loads(p.get("data") or "{}")
            await self._log(session, state.id, state.step, state.phase, "succeeded", p["data"])
            return await self._advance(session, state)
        await self._log(session, state.id, state.step, state.phase, "failed", p["reason"])
        return await self._fail_step(session, state, p["reason"] or "participant failed")

    async def on_timeouts(
        self,
        session: AsyncSession,
        now: datetime | None = None,
        *,
        where: ColumnElement[bool] | None = None,
    ) -> int:
        """Retry or fail every step whose deadline passed; returns how many sagas moved.

        `where` narrows the sagas further, for a saga type with several shapes (definitions of
        the same name told apart by a field of their data, e.g. `SAGAS.c.data["kind"]`)."""
        now = now or datetime.now(UTC)
        query = (
            select(SAGAS.c.id)
            .where(SAGAS.c.type == self.definition.name)
            .where(SAGAS.c.status.in_([Status.RUNNING.value, Status.COMPENSATING.value]))
            .where(SAGAS.c.deadline < now)
        )
        if where is not None:
            query = query.where(where)
        rows = (await session.execute(query.with_for_update(skip_locked=True))).all()
        for (saga_id,) in rows:
            state = await self._lock(session, saga_id)
            assert state is not None
            step = self.definition.steps[state.step]
            if state.attempt <= step.retries:
                await self._log(session, state.id, state.step, state.phase, "timed out, retrying")
                state.attempt += 1
                await self._send(session, state)
            else:
                reason = f"{self._name(state)} timed out after {state.attempt} attempt(s)"
                await self._log(session, state.id, state.step, state.phase, "timed out", reason)
                await self._fail_step(session, state, reason, uncertain=True)
        return len(rows)

    # --- internals --------------------------------------------------------------------------

    async def _advance(self, session: AsyncSession, state: _State) -> Status:
        if state.phase == "forward":
            if state.step + 1 < len(self.definition.steps):
                state.step, state.attempt = state.step + 1, 1
                await self._send(session, state)
                return state.status
            await self._finish(session, state, Status.COMPLETED)
            return Status.COMPLETED
        return await self._compensate_from(session, state, state.step - 1)

    async def _fail_step(
        self, session: AsyncSession, state: _State, reason: str, *, uncertain: bool = False
    ) -> Status:
        """A step failed. A failure reply means the participant did nothing, so compensation
        starts at the step before; a timeout (`uncertain`) may hide an effect that happened
        (a payment authorized after we stopped waiting), so the step's own compensation runs
        first — and as it undoes something that may never have happened, its own failure does
        not stop the earlier compensations: the saga ends `failed` for a human instead."""
        if state.phase == "compensate":
            if state.data.get(UNCERTAIN) == state.step:  # best effort: log it, keep undoing
                await self._log(session, state.id, state.step, state.phase, "gave up", reason)
                state.data[UNDO_FAILED] = reason
                return await self._compensate_from(session, state, state.step - 1)
            # undoing a step that did happen failed: stop, keep what we know
            await self._finish(session, state, Status.FAILED, error=reason)
            return Status.FAILED
        state.status, state.phase = Status.COMPENSATING, "compensate"
        state.data[FAILURE] = reason
        await session.execute(update(SAGAS).where(SAGAS.c.id == state.id).values(error=reason))
        first = state.step - 1
        if uncertain and self.definition.steps[state.step].compensation is not None:
            state.data[UNCERTAIN] = first = state.step
        return await self._compensate_from(session, state, first)

    def _name(self, state: _State) -> str:
        step = self.definition.steps[state.step]
        return (step.name if state.phase == "forward" else step.compensation) or step.name

    async def _compensate_from(self, session: AsyncSession, state: _State, step: int) -> Status:
        while step >= 0 and self.definition.steps[step].compensation is None:
            step -= 1
        if step < 0:
            if UNDO_FAILED in state.data:
                first_error = state.data.get(FAILURE, "a step failed")
                error = f"{first_error}; compensation not confirmed: {state.data[UNDO_FAILED]}"
                await self._finish(session, state, Status.FAILED, error=error)
                return Status.FAILED
            await self._finish(session, state, Status.COMPENSATED)
            return Status.COMPENSATED
        state.step, state.attempt = step, 1
        await self._send(session, state)
        return state.status

    async def _send(self, session: AsyncSession, state: _State) -> None:
        step = self.definition.steps[state.step]
        name = step.name if state.phase == "forward" else step.compensation
        assert name is not None
        message = encode(
            self.registry,
            "saga.command",
            {
                "saga_id": str(state.id),
                "saga_type": self.definition.name,
                "step": state.step,
                "phase": state.phase,
                "name": name,
                "attempt": state.attempt,
                "data": json.dumps(state.data, sort_keys=True),
            },
            producer=self.definition.producer,
            correlation_id=str(state.id),
            topic=command_topic(step.participant),
        )
        await outbox.record(session, message)
        await session.execute(
            update(SAGAS)
            .where(SAGAS.c.id == state.id)
            .values(
                status=state.status.value,
                phase=state.phase,
                step=state.step,
                attempt=state.attempt,
                data=state.data,
                deadline=datetime.now(UTC) + step.timeout,
                updated_at=func.now(),
            )
        )
        await self._log(
            session, state.id, state.step, state.phase, f"sent {name}", f"attempt {state.attempt}"
        )

    async def _finish(
        self, session: AsyncSession, state: _State, status: Status, *, error: str | None = None
    ) -> None:
        values: dict[str, Any] = {
            "status": status.value,
            "data": state.data,
            "deadline": None,
            "updated_at": func.now(),
        }
        if error is not None:
            values["error"] = error
        await session.execute(update(SAGAS).where(SAGAS.c.id == state.id).values(**values))
        await self._log(session, state.id, state.step, state.phase, status.value, error or "")

    async def _lock(self, session: AsyncSession, saga_id: uuid.UUID) -> _State | None:
        row = (
            (await session.execute(select(SAGAS).where(SAGAS.c.id == saga_id).with_for_update()))
            .mappings()
            .first()
        )
        if row is None:
            return None
        return _State(
            row["id"],
            Status(row["status"]),
            row["phase"],
            row["step"],
            row["attempt"],
            dict(row["data"]),
        )

    @staticmethod
    async def _log(
        session: AsyncSession,
        saga_id: uuid.UUID,
        step: int,
        phase: str,
        what: str,
        detail: str = "",
    ) -> None:
        await session.execute(
            insert(SAGA_LOG).values(
                saga_id=saga_id, step=step, phase=phase, what=what, detail=detail[:2000]
            )
        )


async def show(session: AsyncSession, saga_id: uuid.UUID) -> dict[str, Any] | None:
    """A saga's state and its full history (what `kommerce saga show` prints)."""
    row = (await session.execute(select(SAGAS).where(SAGAS.c.id == saga_id))).mappings().first()
    if row is None:
        return None
    log = (
        (
            await session.execute(
                select(SAGA_LOG).where(SAGA_LOG.c.saga_id == saga_id).order_by(SAGA_LOG.c.id)
            )
        )
        .mappings()
        .all()
    )
    return {**dict(row), "log": [dict(entry) for entry in log]}


def reply(
    registry: Registry,
    command: Event,
    *,
    success: bool,
    producer: str,
    reason: str = "",
    data: dict[str, Any] | None = None,
) -> Any:
    """The reply a participant sends for a saga command (to `<saga>.replies.v1`)."""
    c = command.payload
    return encode(
        registry,
        "saga.reply",
        {
            "saga_id": c["saga_id"],
            "saga_type": c["saga_type"],
            "step": c["step"],
            "phase": c["phase"],
            "name": c["name"],
            "attempt": c["attempt"],
            "outcome": "success" if success else "failure",
            "reason": reason,
            "data": json.dumps(data or {}, sort_keys=True),
        },
        producer=producer,
        caused_by=command,
        topic=f"{c['saga_type']}.replies.v1",
    )
