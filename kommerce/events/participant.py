"""Saga participants: apply a `saga.command` and record its `saga.reply` in the same transaction.

A participant service consumes `<participant>.commands.v1` with a `Consumer` (kommerce.events
.consumer), which hands each fresh command to `Participant.handle` with the session of the
transaction that also records the inbox row. The command's effect and the reply in the
service's outbox are written in that session: they commit together or not at all, and the
inbox applies a redelivered command once. Commands re-sent by the orchestrator after a timeout
are new events, so each command must also be idempotent on its own key (an order id, a refund
id, ...).

A command that cannot be applied is answered, never raised: `Refused` (or any
`kommerce.http.errors.Problem`) becomes a failure reply whose reason is `<slug>: <detail>`; an
unknown command name or data that is not a JSON object too. Each command runs in a savepoint,
so a refusal also undoes whatever the command had written (unless `Refused(keep=True)`). An
exception of another kind (a database outage) is left to the consumer's retries.

A command whose outcome is not known yet (a payment waiting for the shopper's 3-D Secure, or
for the provider's webhook) raises `Deferred`: what it wrote stays and no reply is sent. The
service keeps `saved_command(command)` with its record and answers later, in the transaction
that learns the outcome, with `Participant.answer(session, saved, ...)`. A re-sent command
(the orchestrator's next attempt) must replace the saved one: replies to older attempts are
ignored by the orchestrator.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from kommerce.events import outbox
from kommerce.events.saga import reply
from kommerce.events.schemas import Registry
from kommerce.events.serde import Event
from kommerce.http.errors import Problem
from kommerce.money import Money

log = logging.getLogger("kommerce.events.participant")

# (session, command, the saga's data) -> the reply's data (merged into the saga's data)
CommandHandler = Callable[[AsyncSession, Event, dict[str, Any]], Awaitable[dict[str, Any]]]

MAX_DETAIL = 500


class Refused(Exception):
    """The command cannot be applied: the reply is a failure with reason `<slug>: <detail>`.

    What the command wrote before refusing is rolled back (each command runs in a savepoint),
    unless `keep`: e.g. a confirm that finds the reservation expired returns its stock and
    then refuses, both committed with the failure reply."""

    def __init__(self, slug: str, detail: str, *, keep: bool = False) -> None:
        self.slug = slug
        self.detail = detail[:MAX_DETAIL]
        self.keep = keep
        super().__init__(self.reason)

    @property
    def reason(self) -> str:
        return f"{self.slug}: {self.detail}"


class Deferred(Exception):
    """The outcome is not known yet: keep what the command wrote, reply later (`answer`)."""


class Participant:
    """Answers the commands named in `commands`; `name` is the replies' producer."""

    def __init__(
        self, name: str, commands: Mapping[str, CommandHandler], registry: Registry
    ) -> None:
        self.name = name
        self.commands = dict(commands)
        self.registry = registry

    @property
    def topic(self) -> str:
        return f"{self.name}.commands.v1"

    async def handle(self, session: AsyncSession, command: Event) -> bool:
        """Apply the command and record the reply in `session`; True if it succeeded."""
        refused: Refused | None = None
        deferred = False
        try:
            apply = self.commands.get(command.payload["name"])
            if apply is None:
                raise Refused(
                    "unknown-command", f"{self.name} does not handle {command.payload['name']!r}"
                )
            data = command_data(command)
            async with session.begin_nested():  # a refusal undoes what the command wrote
                try:
                    data = await apply(session, command, data)
                except Refused as kept:
                    if not kept.keep:
                        raise
                    refused = kept  # the savepoint is released: the effects stay
                except Deferred:
                    deferred = True
        except Refused as undone:
            refused = undone
        except Problem as problem:  # a domain refusal, rolled back like a Refused
            refused = Refused(problem.slug, problem.detail)
        if refused is not None:
            await self._reply(session, command, success=False, reason=refused.reason)
            return False
        if deferred:
            log.info("%s: %s deferred", self.name, command.payload["name"])
            return False
        await self._reply(session, command, success=True, data=data)
        return True

    async def answer(
        self,
        session: AsyncSession,
        saved: Mapping[str, Any],
        *,
        success: bool,
        reason: str = "",
        data: dict[str, Any] | None = None,
    ) -> None:
        """Reply now to a command deferred earlier (`saved_command`), in `session`."""
        await self._reply(
            session, restore_command(saved), success=success, reason=reason, data=data
        )

    async def _reply(
        self,
        session: AsyncSession,
        command: Event,
        *,
        success: bool,
        reason: str = "",
        data: dict[str, Any] | None = None,
    ) -> None:
        p = command.payload
        log.info(
            "%s: saga %s %s step %s %s (%s) attempt %s: %s %s",
            self.name,
            p["saga_type"],
            p["saga_id"],
            p["step"],
            p["name"],
            p["phase"],
            p["attempt"],
            "success" if success else "failure",
            reason,
        )
        message = reply(
            self.registry, command, success=success, reason=reason, data=data, producer=self.name
        )
        await outbox.record(session, message)


def saved_command(command: Event) -> dict[str, Any]:
    """The command as JSON, to keep with a deferred effect and `answer` later."""
    return {
        "event_id": command.event_id,
        "type": command.type,
        "written_version": command.written_version,
        "version": command.version,
        "payload": dict(command.payload),
        "key": command.key,
        "occurred_at": command.occurred_at.isoformat(),
        "producer": command.producer,
        "correlation_id": command.correlation_id,
        "causation_id": command.causation_id,
        "traceparent": command.traceparent,
    }


def restore_command(saved: Mapping[str, Any]) -> Event:
    return Event(
        event_id=saved["event_id"],
        type=saved["type"],
        written_version=saved["written_version"],
        version=saved["version"],
        payload=dict(saved["payload"]),
        key=saved["key"],
        occurred_at=datetime.fromisoformat(saved["occurred_at"]),
        producer=saved["producer"],
        correlation_id=saved["correlation_id"],
        causation_id=saved["causation_id"],
        traceparent=saved["traceparent"],
    )


def command_data(command: Event) -> dict[str, Any]:
    """The saga's data the command carries (a JSON object), or Refused."""
    try:
        data = json.loads(command.payload.get("data") or "{}")
    except ValueError as exc:
        raise Refused("invalid-command", "data is not JSON") from exc
    if not isinstance(data, dict):
        raise Refused("invalid-command", "data is not a JSON object")
    return data


def text_field(data: Mapping[str, Any], name: str, *, max_length: int = 200) -> str:
    """A required identifier-like field (a string or an integer), or Refused."""
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise Refused("invalid-command", f"{name} is missing")
    text = str(value)
    if len(text) > max_length or "\x00" in text:
        raise Refused("invalid-command", f"{name} is not a valid identifier")
    return text


def money_field(data: Mapping[str, Any]) -> Money:
    """`amount_minor` and `currency` as a positive Money (kommerce.money), or Refused
    (`invalid-amount`, `invalid-currency`)."""
    amount, currency = data.get("amount_minor"), data.get("currency")
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise Refused("invalid-amount", "amount_minor must be an integer (minor units)")
    try:
        money = Money(amount=amount, currency=currency)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        slug = "invalid-currency" if where == "currency" else "invalid-amount"
        raise Refused(slug, f"{where}: {first['msg']}") from exc
    if money.amount <= 0:
        raise Refused("invalid-amount", "amount_minor must be positive")
    return money


def int_field(data: Mapping[str, Any], name: str, *, minimum: int, maximum: int) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise Refused("invalid-command", f"{name} must be an integer in {minimum}..{maximum}")
    return value


_pending: set[asyncio.Task[Any]] = set()


def after_commit(session: AsyncSession, job: Callable[[], Awaitable[Any]]) -> None:
    """Run `job()` in the background once the session's transaction has committed (never if it
    rolls back), e.g. a cache write-through that must not show uncommitted state."""

    def committed(_session: Session) -> None:
        task = asyncio.get_running_loop().create_task(_run(job))
        _pending.add(task)
        task.add_done_callback(_pending.discard)

    event.listen(session.sync_session, "after_commit", committed, once=True)


async def _run(job: Callable[[], Awaitable[Any]]) -> None:
    try:
        await job()
    except Exception:
        log.exception("after-commit job failed")
