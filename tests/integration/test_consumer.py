"""Consumers against real Kafka and PostgreSQL: inbox, retries, dead letters, replay, groups."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from click.testing import CliRunner, Result
from prometheus_client import CollectorRegistry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.cli.events import events
from kommerce.data.db import Database
from kommerce.events import message as m
from kommerce.events.consumer import (
    ConsumedMessage,
    Consumer,
    ConsumerMetrics,
    PoisonMessage,
    RetryPolicy,
)
from kommerce.settings import KommerceSettings
from tests.helpers import kommerce

pytestmark = pytest.mark.integration

FAST = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 500, "max_poll_interval_ms": 20_000}


def _uid() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
def bootstrap(stack_env: dict[str, str]) -> str:
    return stack_env["KOMMERCE_KAFKA_BOOTSTRAP"]


@pytest.fixture
async def db(stack_env: dict[str, str]) -> AsyncIterator[Database]:
    database = Database(url=KommerceSettings().async_database_url(), schema=f"cons_{_uid()}")
    await database.ensure_schema()
    async with database.session() as s:
        await s.execute(text("CREATE TABLE applied (event_id text, value text, via text)"))
    yield database
    async with database.engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{database.schema}" CASCADE'))
    await database.close()


async def create_topic(bootstrap: str, partitions: int = 1) -> str:
    name = f"t-{_uid()}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()
    return name


async def produce(
    bootstrap: str, topic: str, records: Iterable[tuple[str | None, bytes, str]]
) -> None:
    """(event id or None, value, key) each; envelope headers as the relay would set them."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for event_id, value, key in records:
            headers = [(m.EVENT_TYPE, b"test.Thing"), (m.PRODUCER, b"tests")]
            if event_id is not None:
                headers.insert(0, (m.EVENT_ID, event_id.encode()))
            await producer.send_and_wait(topic, value=value, key=key.encode(), headers=headers)
    finally:
        await producer.stop()


@dataclass
class Recorder:
    """A handler that writes its side effect in the consumer's transaction."""

    via: str = "c"
    broken: bool = False
    calls: list[str] = field(default_factory=list)

    async def __call__(self, message: ConsumedMessage, session: AsyncSession) -> None:
        self.calls.append(message.event_id)
        if self.broken and message.value == b"poison":
            raise RuntimeError(f"cannot price {message.event_id}")
        if message.value == b"unreadable":
            raise PoisonMessage(f"cannot read {message.event_id}")
        await session.execute(
            text("INSERT INTO applied (event_id, value, via) VALUES (:e, :v, :via)"),
            {"e": message.event_id, "v": (message.value or b"").decode(), "via": self.via},
        )


async def applied(db: Database) -> list[str]:
    async with db.session() as s:
        return list((await s.execute(text("SELECT event_id FROM applied ORDER BY 1"))).scalars())


class Member:
    """A consumer with its own metrics registry, run in a background task."""

    def __init__(self, *, topic: str, group: str, db: Database, bootstrap: str, **kw: object):
        self.registry = CollectorRegistry()
        self.handler: Recorder = kw.pop("handler", None) or Recorder()  # type: ignore[assignment]
        self.topic, self.group = topic, group
        self.consumer = Consumer(
            group=group,
            topics=[topic],
            handler=self.handler,
            database=db,
            bootstrap=bootstrap,
            metrics=ConsumerMetrics.create(self.registry),
            **{**FAST, **kw},  # type: ignore[arg-type]
        )
        self.task: asyncio.Task[None] | None = None

    def count(self, metric: str) -> float:
        found = self.registry.get_sample_value(
            f"kommerce_consumer_{metric}_total", {"group": self.group, "topic": self.topic}
        )
        return found or 0.0

    async def start(self) -> Member:
        await self.consumer.start()
        self.task = asyncio.create_task(self.consumer.run())
        return self

    async def stop(self) -> None:
        await self.consumer.stop()
        if self.task is not None:
            await self.task


@asynccontextmanager
async def running(*members: Member) -> AsyncIterator[None]:
    for member in members:
        await member.start()
    try:
        yield
    finally:
        for member in members:
            await member.stop()


async def eventually(check: Callable[[], object], within: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.1)


def _invoke(args: tuple[str, ...]) -> Result:
    # In a worker thread: the commands run their own event loop (asyncio.run).
    return CliRunner().invoke(events, list(args))


async def run_cli(*args: str) -> Result:
    """`kommerce events ARGS` in-process (a subprocess pays the CLI's import time each call)."""
    return await asyncio.to_thread(_invoke, args)


async def cli(*args: str) -> str:
    done = await run_cli(*args)
    assert done.exit_code == 0, done.output
    return done.output


async def test_duplicate_delivery_is_applied_once(bootstrap: str, db: Database) -> None:
    topic = await create_topic(bootstrap)
    await produce(bootstrap, topic, [("e-1", b"a", "k"), ("e-2", b"b", "k"), ("e-1", b"a", "k")])
    member = Member(topic=topic, group=f"g-{_uid()}", db=db, bootstrap=bootstrap)
    async with running(member):
        await eventually(lambda: member.count("handled") + member.count("duplicates") == 3)

        def lag() -> float | None:
            return member.registry.get_sample_value(
                "kommerce_consumer_lag", {"group": member.group, "topic": topic, "partition": "0"}
            )

        await eventually(lambda: lag() == 0, what="lag 0")
    assert member.handler.calls == ["e-1", "e-2"]
    assert member.count("duplicates") == 1
    assert await applied(db) == ["e-1", "e-2"]


async def test_an_unreadable_event_is_dead_lettered_without_retries(
    bootstrap: str, db: Database
) -> None:
    topic = await create_topic(bootstrap)
    await produce(bootstrap, topic, [("u-1", b"unreadable", "k"), ("ok-1", b"fine", "k")])
    retry = RetryPolicy(attempts=5, base=0.5, cap=1.0)
    member = Member(topic=topic, group=f"g-{_uid()}", db=db, bootstrap=bootstrap, retry=retry)
    async with running(member):
        await eventually(lambda: member.count("dead_lettered") == 1, what="1 dead letter")
        await eventually(lambda: member.count("handled") == 1)
    assert member.count("retries") == 0
    assert await applied(db) == ["ok-1"]


async def test_poison_goes_to_dlq_and_replays_after_fix(bootstrap: str, db: Database) -> None:
    topic = await create_topic(bootstrap)
    await produce(
        bootstrap,
        topic,
        [
            ("ok-1", b"fine", "a"),
            ("bad-1", b"poison", "a"),
            (None, b"anon", "a"),
            ("ok-2", b"x", "a"),
        ],
    )
    group = f"g-{_uid()}"
    handler = Recorder(broken=True)
    retry = RetryPolicy(attempts=3, base=0.01, cap=0.05)
    member = Member(
        topic=topic, group=group, db=db, bootstrap=bootstrap, handler=handler, retry=retry
    )
    async with running(member):
        await eventually(lambda: member.count("dead_lettered") == 2, what="2 dead letters")
        await eventually(lambda: member.count("handled") == 2)
    # Retried in place (3 attempts = 2 retries), then dead-lettered. (A batch fast-path try
    # that rolled back may add one call: only the retry policy's attempts count.)
    assert handler.calls.count("bad-1") >= 3
    assert member.count("retries") == 2
    assert await applied(db) == ["ok-1", "ok-2"]  # the failure did not block the partition

    # Once through the real entry point, as an operator runs it.
    done = await asyncio.to_thread(kommerce, "events", "dlq", "list", topic, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    listed = done.stdout
    lines = listed.splitlines()
    assert lines[0].split()[:3] == ["OFFSET", "EVENT", "ID"]
    assert lines[1].split()[:3] == ["0", "bad-1", "test.Thing"]
    assert "RuntimeError: cannot price bad-1" in lines[1]
    assert "0@1" in lines[1]
    assert lines[1].rstrip().endswith("no")
    assert "PoisonMessage: no kommerce-event-id header" in lines[2]
    shown = await cli("dlq", "show", topic, "0")
    assert f"original      {topic} 0@1" in shown
    assert f"group         {group} after 3 attempt(s)" in shown
    assert "kommerce-event-id: bad-1" in shown
    assert "poison" in shown

    handler.broken = False  # the fix is deployed
    async with running(
        member := Member(topic=topic, group=group, db=db, bootstrap=bootstrap, handler=handler)
    ):
        replayed = await cli("dlq", "replay", topic, "--offset", "0")
        assert f"replayed 0:0 -> {topic} (event bad-1)" in replayed
        await eventually(lambda: member.count("handled") == 1, what="replayed event applied")
        again = await cli("dlq", "replay", topic, "--offset", "0")
        assert "skipped  0:0 (replayed before" in again
        assert "nothing to replay" in again
        await asyncio.sleep(1)
    assert member.count("handled") == 1
    assert member.count("duplicates") == 0  # the second replay published nothing
    assert await applied(db) == ["bad-1", "ok-1", "ok-2"]
    assert "yes" in (await cli("dlq", "list", topic)).splitlines()[1]


async def test_failure_inside_a_batch_changes_nothing(bootstrap: str, db: Database) -> None:
    """A failing record amid good ones: the others are applied once, it alone dead-lettered."""
    topic = await create_topic(bootstrap)
    values = [b"v", b"v", b"poison", b"v", b"v"]
    await produce(bootstrap, topic, [(f"e-{i}", v, "k") for i, v in enumerate(values)])
    retry = RetryPolicy(attempts=2, base=0.01, cap=0.02)
    member = Member(
        topic=topic,
        group=f"g-{_uid()}",
        db=db,
        bootstrap=bootstrap,
        handler=Recorder(broken=True),
        retry=retry,
    )
    async with running(member):
        await eventually(lambda: member.count("dead_lettered") == 1, what="1 dead letter")
        await eventually(lambda: member.count("handled") == 4, what="4 applied")
        await asyncio.sleep(0.5)
    assert member.count("duplicates") == 0
    assert await applied(db) == ["e-0", "e-1", "e-3", "e-4"]
    listed = (await cli("dlq", "list", topic)).splitlines()
    assert len(listed) == 2
    assert "e-2" in listed[1]


async def test_restart_resumes_from_committed_offset(bootstrap: str, db: Database) -> None:
    topic = await create_topic(bootstrap)
    group = f"g-{_uid()}"
    await produce(bootstrap, topic, [(f"e-{i}", b"v", "k") for i in range(3)])
    first = Member(topic=topic, group=group, db=db, bootstrap=bootstrap)
    async with running(first):
        await eventually(lambda: first.count("handled") == 3)
    await produce(bootstrap, topic, [(f"e-{i}", b"v", "k") for i in range(3, 5)])
    second = Member(topic=topic, group=group, db=db, bootstrap=bootstrap)
    async with running(second):
        await eventually(lambda: second.count("handled") == 2)
        await asyncio.sleep(0.5)
    assert second.handler.calls == ["e-3", "e-4"]
    assert second.count("duplicates") == 0  # nothing redelivered: the offsets were committed
    assert await applied(db) == [f"e-{i}" for i in range(5)]


async def test_group_members_share_partitions_and_take_over(bootstrap: str, db: Database) -> None:
    topic = await create_topic(bootstrap, partitions=4)
    group = f"g-{_uid()}"
    one = Member(topic=topic, group=group, db=db, bootstrap=bootstrap, handler=Recorder(via="one"))
    two = Member(topic=topic, group=group, db=db, bootstrap=bootstrap, handler=Recorder(via="two"))
    await one.start()
    try:
        await two.start()
        try:
            await eventually(
                lambda: len(one.consumer.assignment()) == 2 and len(two.consumer.assignment()) == 2,
                what="two partitions each",
            )
            assert one.consumer.assignment().isdisjoint(two.consumer.assignment())
            await produce(bootstrap, topic, [(f"a-{i}", b"v", f"key-{i}") for i in range(40)])

            async def all_applied(n: int) -> bool:
                return len(await applied(db)) >= n

            await eventually(lambda: all_applied(40), what="40 applied")
            assert one.handler.calls
            assert two.handler.calls
        finally:
            await two.stop()
        await eventually(lambda: len(one.consumer.assignment()) == 4, what="takeover")
        assert one.consumer.assignment() == {TopicPartition(topic, p) for p in range(4)}
        await produce(bootstrap, topic, [(f"b-{i}", b"v", f"key-{i}") for i in range(40)])
        await eventually(lambda: all_applied(80), what="80 applied")
        await asyncio.sleep(0.5)
    finally:
        await one.stop()
    events = await applied(db)
    assert len(events) == 80
    assert sorted(events) == sorted([f"a-{i}" for i in range(40)] + [f"b-{i}" for i in range(40)])
    assert all(e in one.handler.calls for e in events if e.startswith("b-"))


async def test_replay_from_time_redelivers_to_one_group(bootstrap: str, db: Database) -> None:
    topic = await create_topic(bootstrap, partitions=2)
    g1, g2 = f"g1-{_uid()}", f"g2-{_uid()}"
    await produce(bootstrap, topic, [(f"old-{i}", b"v", f"k{i}") for i in range(3)])
    await asyncio.sleep(1.0)
    since = datetime.now(UTC)
    await asyncio.sleep(0.2)
    await produce(bootstrap, topic, [(f"new-{i}", b"v", f"k{i}") for i in range(3)])
    first = [Member(topic=topic, group=g, db=db, bootstrap=bootstrap) for g in (g1, g2)]
    async with running(*first):
        await eventually(lambda: all(mb.count("handled") == 6 for mb in first), what="6 each")
        busy = await run_cli(
            "replay",
            "--topic",
            topic,
            "--from",
            since.isoformat(),
            "--group",
            g1,
        )
        assert busy.exit_code != 0
        assert f"consumer group {g1} is active" in busy.output
        assert "stop its consumers first" in busy.output

    out = await cli("replay", "--topic", topic, "--from", since.isoformat(), "--group", g1)
    assert f"rewound group {g1} on {topic}" in out

    again = [Member(topic=topic, group=g, db=db, bootstrap=bootstrap) for g in (g1, g2)]
    async with running(*again):
        await eventually(lambda: again[0].count("duplicates") == 3, what="3 re-delivered to g1")
        await asyncio.sleep(1.0)
    redelivered, untouched = again
    assert redelivered.count("handled") == 0  # seen again at the Kafka level, applied once
    assert redelivered.handler.calls == []
    assert untouched.count("duplicates") == 0
    assert untouched.count("handled") == 0
    assert sorted(await applied(db)) == sorted(
        [f"{p}-{i}" for p in ("old", "new") for i in range(3)] * 2
    )
