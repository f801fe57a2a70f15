"""`kommerce events dlq list|show|replay` and `kommerce events replay`: dead letters, history."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from kommerce.events import dlq as dead_letters

# `kommerce.events.dlq` (aiokafka) is imported inside the commands: every other `kommerce`
# command starts without paying for it.

T = TypeVar("T")

BOOTSTRAP = click.option(
    "--bootstrap",
    envvar="KOMMERCE_KAFKA_BOOTSTRAP",
    metavar="HOST:PORT",
    help="Kafka bootstrap server [env KOMMERCE_KAFKA_BOOTSTRAP]",
)


def _run(bootstrap: str | None, work: Coroutine[Any, Any, T]) -> T:
    if not bootstrap:
        work.close()
        raise click.ClickException(
            "no Kafka bootstrap server: pass --bootstrap HOST:PORT or set KOMMERCE_KAFKA_BOOTSTRAP "
            "(`eval $(kommerce stack env)` for the local stack)"
        )
    from kommerce.events.dlq import DeadLetterError

    try:
        return asyncio.run(work)
    except DeadLetterError as exc:
        raise click.ClickException(str(exc)) from exc


def _age(at: datetime, now: datetime) -> str:
    seconds = max(0, int((now - at).total_seconds()))
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _preview(value: bytes | None, limit: int) -> str:
    if value is None:
        return "(null)"
    try:
        shown = value[:limit].decode()
    except UnicodeDecodeError:
        shown = value[:limit].hex(" ")
    more = f" … ({len(value)} bytes)" if len(value) > limit else ""
    return shown + more


@click.group()
def dlq() -> None:
    """Inspect and replay dead letters (`<topic>.dlq`)."""


@dlq.command("list")
@click.argument("topic")
@BOOTSTRAP
def list_(topic: str, bootstrap: str | None) -> None:
    """Dead letters of TOPIC (or of the `.dlq` topic given), oldest first."""
    from kommerce.events import dlq as dead

    letters, replayed = _run(bootstrap, dead.read_dead_letters(str(bootstrap), topic))
    if not letters:
        click.echo(f"{dead.resolve_dlq(topic)}: no dead letters")
        return
    now = datetime.now(UTC)
    multi = len({d.partition for d in letters}) > 1
    rows = [("OFFSET", "EVENT ID", "TYPE", "REASON", "ORIGINAL", "AGE", "REPLAYED")]
    for d in letters:
        original = f"{d.original_partition}@{d.original_offset}"
        rows.append(
            (
                f"{d.partition}:{d.offset}" if multi else str(d.offset),
                d.event_id or "-",
                d.event_type or "-",
                _clip(d.reason, 60),
                original,
                _age(d.timestamp, now),
                "yes" if d.marker in replayed else "no",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


@dlq.command()
@click.argument("topic")
@click.argument("offset", type=int)
@click.option("--partition", type=int, default=0, show_default=True, help="DLQ partition")
@click.option("--bytes", "limit", type=int, default=2000, show_default=True, help="Preview size")
@BOOTSTRAP
def show(topic: str, offset: int, partition: int, limit: int, bootstrap: str | None) -> None:
    """One dead letter: where it came from, why it failed, its headers and payload."""
    from kommerce.events import dlq as dead

    letters, replayed = _run(bootstrap, dead.read_dead_letters(str(bootstrap), topic))
    found = [d for d in letters if d.offset == offset and d.partition == partition]
    if not found:
        raise click.ClickException(
            f"no dead letter at {dead.resolve_dlq(topic)} partition {partition} offset {offset}; "
            f"`kommerce events dlq list {topic}` shows what there is"
        )
    d = found[0]
    click.echo(f"dead letter   {d.dlq} {d.partition}@{d.offset} ({d.timestamp.isoformat()})")
    click.echo(f"original      {d.original_topic} {d.original_partition}@{d.original_offset}")
    click.echo(f"group         {d.group or '-'} after {d.attempts or '?'} attempt(s)")
    click.echo(f"reason        {d.reason}")
    click.echo(f"replayed      {'yes' if d.marker in replayed else 'no'}")
    click.echo(f"key           {_preview(d.key, 200)}")
    click.echo("headers:")
    for name, value in d.headers:
        if name not in dead.DLQ_HEADERS:
            click.echo(f"  {name}: {_preview(value, 200)}")
    click.echo(f"payload ({len(d.value or b'')} bytes):")
    click.echo(f"  {_preview(d.value, limit)}")


@dlq.command("replay")
@click.argument("topic")
@click.option("--offset", "offsets", type=int, multiple=True, help="A DLQ offset (repeatable)")
@click.option("--all", "everything", is_flag=True, help="Every dead letter not replayed yet")
@click.option("--partition", type=int, default=None, help="Only this DLQ partition")
@click.option("--force", is_flag=True, help="Replay again even if replayed before")
@click.option("--dry-run", is_flag=True, help="Say what would be replayed, do nothing")
@BOOTSTRAP
def replay_dead_letters(
    topic: str,
    offsets: tuple[int, ...],
    everything: bool,
    partition: int | None,
    force: bool,
    dry_run: bool,
    bootstrap: str | None,
) -> None:
    """Re-publish dead letters to their original topic (each once, unless --force)."""
    from kommerce.events import dlq as dead

    if bool(offsets) == everything:
        raise click.UsageError("give --offset N (repeatable) or --all")

    async def work() -> tuple[dead_letters.ReplayPlan, list[dead_letters.DeadLetter]]:
        letters, replayed = await dead.read_dead_letters(str(bootstrap), topic)
        plan = dead.plan_replay(
            letters,
            replayed,
            offsets=offsets or None,
            partition=partition,
            force=force,
        )
        if dry_run:
            return plan, []
        return plan, await dead.replay(str(bootstrap), plan.replay)

    plan, done = _run(bootstrap, work())
    for d in plan.already:
        click.echo(f"skipped  {d.partition}:{d.offset} (replayed before; --force to replay again)")
    for d in plan.replay:
        verb = "replayed" if d in done else "would replay"
        click.echo(f"{verb} {d.partition}:{d.offset} -> {d.original_topic} (event {d.event_id})")
    if not plan.replay:
        click.echo("nothing to replay")


@click.command("replay")
@click.option("--topic", required=True, help="The topic to re-deliver")
@click.option(
    "--from",
    "since",
    required=True,
    metavar="TIMESTAMP",
    help="ISO 8601 (2026-11-27T17:00:00Z; UTC if no zone) or Unix milliseconds",
)
@click.option("--group", required=True, help="The consumer group to rewind (must be stopped)")
@click.option("--dry-run", is_flag=True, help="Show the new offsets, change nothing")
@BOOTSTRAP
def replay(topic: str, since: str, group: str, dry_run: bool, bootstrap: str | None) -> None:
    """Re-deliver TOPIC from a time to one consumer group by rewinding its offsets."""
    from kommerce.events import dlq as dead

    try:
        at = dead.parse_time(since)
    except dead.DeadLetterError as exc:
        raise click.BadParameter(str(exc), param_hint="--from") from exc
    resets = _run(
        bootstrap,
        dead.reset_group_offsets(
            str(bootstrap), topic=topic, group=group, since=at, dry_run=dry_run
        ),
    )
    for r in resets:
        old = "-" if r.committed is None else str(r.committed)
        click.echo(f"{topic} partition {r.partition}: {old} -> {r.target}")
    what = "would rewind" if dry_run else "rewound"
    click.echo(f"{what} group {group} on {topic} to {at.isoformat()}")


__all__ = ["dlq", "replay"]
