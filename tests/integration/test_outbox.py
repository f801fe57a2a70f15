"""The transactional outbox and its relay against the stack's real PostgreSQL and Kafka.

Every test has its own schema and topic. Delivery is at least once: the crash test asserts the
duplicate, the others assert nothing is lost and (per key) nothing is reordered.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from kommerce.data.db import Database
from kommerce.events import message as m
from kommerce.events.message import EncodedMessage, headers_dict
from kommerce.events.outbox import ensure_outbox, record, record_many
from kommerce.events.relay import Relay
from kommerce.settings import KommerceSettings
from tests.helpers import KOMMERCE, REPO, free_port

pytestmark = pytest.mark.integration

PARTITIONS = 3


@pytest.fixture
def bootstrap(stack_env: dict[str, str]) -> str:
    return stack_env["KOMMERCE_KAFKA_BOOTSTRAP"]


@pytest.fixture
def db_url(stack_env: dict[str, str]) -> str:
    return KommerceSettings().async_database_url()


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    schema = f"t_outbox_{uuid.uuid4().hex[:10]}"
    database = Database(url=db_url, schema=schema)
    await database.ensure_schema()
    await ensure_outbox(database.engine)
    await ensure_outbox(database.engine)  # idempotent
    yield database
    async with database.engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    await database.close()


@pytest.fixture
async def topic(bootstrap: str) -> str:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    name = f"it.outbox.{uuid.uuid4().hex[:10]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=PARTITIONS, replication_factor=1)])
    finally:
        await admin.close()
    return name


def event(topic: str, key: str, value: str, **extra: str) -> EncodedMessage:
    headers = {
        m.EVENT_ID: str(uuid.uuid4()),
        m.EVENT_TYPE: "test.Happened",
        m.EVENT_VERSION: "1",
        m.PRODUCER: "outbox-test",
        **extra,
    }
    return EncodedMessage(
        topic=topic,
        key=key.encode(),
        value=value.encode(),
        headers=tuple((k, v.encode()) for k, v in headers.items()),
    )


def relay_for(db: Database, db_url: str, bootstrap: str, **kw: Any) -> Relay:
    kw.setdefault("poll_interval", 0.05)
    kw.setdefault("backoff_base", 0.2)
    kw.setdefault("backoff_cap", 2.0)
    kw.setdefault("lock_poll_interval", 0.2)
    return Relay(database_url=db_url, schema=db.schema, bootstrap=bootstrap, **kw)


async def consume(bootstrap: str, topic: str, *, wait: float = 60) -> list[Any]:
    """Every record of `topic`, from the start to the end offsets as of now (call after the
    outbox drained: every row acked is below them)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    records: list[Any] = []
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        deadline = time.monotonic() + wait

        async def behind() -> bool:
            return any([await consumer.position(tp) < ends[tp] for tp in partitions])

        while await behind():
            assert time.monotonic() < deadline, f"{topic}: end offsets {ends} not reached"
            batch = await consumer.getmany(timeout_ms=500)
            for part in batch.values():
                records.extend(part)
    finally:
        await consumer.stop()
    return records


async def eventually(check: Callable[[], Awaitable[bool]], *, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def unpublished(db: Database) -> int:
    async with db.engine.connect() as conn:
        found = (
            await conn.execute(text("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
        ).scalar()
    return int(found or 0)


async def record_all(db: Database, messages: Sequence[EncodedMessage]) -> None:
    async with db.session() as session:
        if len(messages) > 3:
            await record_many(session, messages)
        else:
            for msg in messages:
                await record(session, msg)


def ids_of(records: Sequence[Any]) -> list[str]:
    return [headers_dict(r.headers)[m.EVENT_ID] for r in records]


async def test_rollback_publishes_nothing_commit_publishes_once_with_headers(
    db: Database, db_url: str, bootstrap: str, topic: str
) -> None:
    lost = event(topic, "order-1", "never")

    class Boom(Exception):
        pass

    async def rolled_back() -> None:
        async with db.session() as session:
            await record(session, lost)
            raise Boom

    with pytest.raises(Boom):
        await rolled_back()
    kept = event(
        topic, "order-1", "kept", **{m.TRACEPARENT: "00-" + "a" * 32 + "-" + "b" * 16 + "-01"}
    )
    await record_all(db, [kept])

    relay = relay_for(db, db_url, bootstrap)
    await relay.start()
    try:
        await eventually(lambda: _zero(db), within=60, what="the outbox to drain")
    finally:
        await relay.stop()
    records = await consume(bootstrap, topic)
    assert len(records) == 1
    got = records[0]
    assert (got.key, got.value) == (b"order-1", b"kept")
    assert [(k, bytes(v)) for k, v in got.headers] == list(kept.headers)
    assert relay.published_total == 1
    labels = {"schema": db.schema}
    registry = relay.metrics.registry
    assert registry.get_sample_value("outbox_backlog", labels) == 0
    assert registry.get_sample_value("outbox_lag_seconds", labels) == 0
    assert registry.get_sample_value("outbox_published_total", labels) == 1
    assert registry.get_sample_value("outbox_publish_latency_seconds_count", labels) == 1


async def _zero(db: Database) -> bool:
    return await unpublished(db) == 0


async def test_per_key_order_under_concurrent_writers(
    db: Database, db_url: str, bootstrap: str, topic: str
) -> None:
    keys = [f"agg-{i}" for i in range(6)]
    writers, per_writer = 4, 40
    async with db.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE seq (key text PRIMARY KEY, n int NOT NULL)"))

    async def writer(w: int) -> None:
        for i in range(per_writer):
            key = keys[(w * 7 + i * 3) % len(keys)]
            async with db.session() as session:
                # The aggregate's row lock serialises its writers until commit, as a service does.
                n = (
                    await session.execute(
                        text(
                            "INSERT INTO seq VALUES (:k, 1) ON CONFLICT (key) "
                            "DO UPDATE SET n = seq.n + 1 RETURNING n"
                        ),
                        {"k": key},
                    )
                ).scalar_one()
                await record(session, event(topic, key, f"{key}:{n}"))
                if i % 5 == 0:
                    await asyncio.sleep(0.01)  # hold the lock a little: writers interleave

    relay = relay_for(db, db_url, bootstrap, batch_size=25)
    await relay.start()
    try:
        await asyncio.gather(*(writer(w) for w in range(writers)))
        await eventually(lambda: _zero(db), within=90, what="the outbox to drain")
    finally:
        await relay.stop()
    total = writers * per_writer
    records = await consume(bootstrap, topic)
    assert len(records) == total
    seen: dict[str, list[int]] = {}
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        key, n = r.value.decode().split(":")
        assert r.key.decode() == key
        seen.setdefault(key, []).append(int(n))
    for key, numbers in seen.items():
        assert numbers == list(range(1, len(numbers) + 1)), key
    assert sum(len(v) for v in seen.values()) == total
    assert relay.batches > 1


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so the relay loop does not retry it."""


class CrashAfterAcks(Relay):
    async def after_publish(self, rows: Sequence[Any]) -> None:
        raise Crash


async def test_crash_between_publish_and_mark_sent_resends(
    db: Database, db_url: str, bootstrap: str, topic: str
) -> None:
    messages = [event(topic, f"k{i % 2}", f"v{i}") for i in range(5)]
    await record_all(db, messages)
    crashing = CrashAfterAcks(
        database_url=db_url, schema=db.schema, bootstrap=bootstrap, poll_interval=0.05
    )
    with pytest.raises(Crash):
        await crashing.run()
    assert await unpublished(db) == 5  # acked by Kafka, never marked

    fresh = relay_for(db, db_url, bootstrap)  # the lock was released with the dead connection
    await fresh.start()
    try:
        await eventually(lambda: _zero(db), within=60, what="the outbox to drain")
    finally:
        await fresh.stop()
    records = await consume(bootstrap, topic)
    ids = ids_of(records)
    assert len(ids) == 10
    for msg in messages:
        assert ids.count(msg.event_id) == 2  # the duplicate is there, nothing is missing
    for key in ("k0", "k1"):  # each copy run keeps the key's order
        values = [
            r.value.decode()
            for r in sorted(records, key=lambda r: r.offset)
            if r.key == key.encode()
        ]
        expected = [msg.value.decode() for msg in messages if msg.key == key.encode()]
        assert values == expected * 2


async def test_kafka_restart_while_publishing_loses_nothing(
    db: Database, db_url: str, bootstrap: str, topic: str
) -> None:
    from kommerce.runtime import orchestrate
    from kommerce.stack.servers import servers

    kafka = [s for s in servers() if s.name == "kafka"]
    recorded: list[str] = []
    stop_writing = asyncio.Event()

    async def writer() -> None:
        i = 0
        while not stop_writing.is_set():
            msg = event(topic, f"k{i % 5}", f"v{i}")
            await record_all(db, [msg])
            recorded.append(msg.event_id)
            i += 1
            await asyncio.sleep(0.02)

    relay = relay_for(db, db_url, bootstrap, batch_size=20, publish_timeout=10)
    await relay.start()
    writing = asyncio.create_task(writer())
    try:
        await eventually(
            _async(lambda: relay.published_total >= 30), within=60, what="publishing to start"
        )
        await asyncio.to_thread(orchestrate.down, kafka, say=lambda _m: None)
        try:
            down_at = len(recorded)
            await asyncio.sleep(3)
            assert len(recorded) > down_at  # the service keeps recording while Kafka is down
            assert await unpublished(db) > 0
        finally:
            await asyncio.to_thread(orchestrate.up, kafka, say=lambda _m: None)
        await asyncio.sleep(2)
        stop_writing.set()
        await writing
        await eventually(lambda: _zero(db), within=120, what="the outbox to drain after restart")
    finally:
        stop_writing.set()
        await writing
        await relay.stop()
    records = await consume(bootstrap, topic, wait=90)
    got = ids_of(records)
    assert set(got) == set(recorded)  # none lost (duplicates allowed: at least once)
    assert len(got) >= len(recorded)
    failures = relay.metrics.registry.get_sample_value(
        "outbox_publish_failures_total", {"schema": db.schema}
    )
    assert failures is not None
    assert failures >= 1  # the outage was seen and retried


def _async(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def run() -> bool:
        return check()

    return run


async def test_two_relays_on_one_schema_only_one_publishes(
    db: Database, db_url: str, bootstrap: str, topic: str
) -> None:
    first = relay_for(db, db_url, bootstrap)
    second = relay_for(db, db_url, bootstrap)
    await first.start()
    await eventually(_async(lambda: first.holds_lock), within=30, what="the first relay's lock")
    await second.start()
    try:
        await asyncio.sleep(0.5)
        batch1 = [event(topic, f"k{i % 3}", f"a{i}") for i in range(20)]
        await record_all(db, batch1)
        await eventually(lambda: _zero(db), within=60, what="the first batch")
        assert first.published_total == 20
        assert second.published_total == 0
        assert not second.holds_lock

        await first.stop()  # the waiting relay takes over
        await eventually(_async(lambda: second.holds_lock), within=30, what="the takeover")
        batch2 = [event(topic, f"k{i % 3}", f"b{i}") for i in range(5)]
        await record_all(db, batch2)
        await eventually(lambda: _zero(db), within=60, what="the second batch")
        assert second.published_total == 5
    finally:
        await first.stop()
        await second.stop()
    records = await consume(bootstrap, topic)
    ids = ids_of(records)
    assert sorted(ids) == sorted(msg.event_id for msg in batch1 + batch2)  # each exactly once


async def test_cli_relay_publishes_serves_metrics_and_stops_on_sigterm(
    db: Database, db_url: str, bootstrap: str, topic: str, tmp_path: Any
) -> None:
    messages = [event(topic, "k", f"v{i}") for i in range(7)]
    await record_all(db, messages)
    port = free_port()
    log = tmp_path / "relay.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            *KOMMERCE,
            *("events", "relay", "--schema", db.schema, "--metrics-port", str(port)),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(os.environ),
            cwd=REPO,
        )
    try:
        await eventually(lambda: _zero(db), within=60, what="the CLI relay to drain the outbox")
        async with httpx.AsyncClient() as client:
            body = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
        assert f'outbox_published_total{{schema="{db.schema}"}} 7.0' in body
        assert "outbox_lag_seconds" in body
        assert "outbox_publish_latency_seconds_bucket" in body
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    output = log.read_text()
    assert "lock acquired" in output
    assert "stopped after publishing 7" in output, output
    records = await consume(bootstrap, topic)
    assert [r.value for r in records] == [msg.value for msg in messages]


async def _cli_relay(schema: str, log: Any) -> asyncio.subprocess.Process:
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            *KOMMERCE,
            *("events", "relay", "--schema", schema, "--batch-size", "5"),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(os.environ),
            cwd=REPO,
        )


async def test_cli_relay_sigkilled_mid_stream_loses_nothing(
    db: Database, bootstrap: str, topic: str, tmp_path: Any
) -> None:
    recorded: list[EncodedMessage] = []
    stop_writing = asyncio.Event()

    async def writer() -> None:
        i = 0
        while not stop_writing.is_set():
            msg = event(topic, f"k{i % 4}", str(i))
            await record_all(db, [msg])
            recorded.append(msg)
            i += 1
            await asyncio.sleep(0.01)

    async def published() -> int:
        async with db.engine.connect() as conn:
            found = (
                await conn.execute(
                    text("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL")
                )
            ).scalar()
        return int(found or 0)

    log = tmp_path / "relay.log"
    writing = asyncio.create_task(writer())
    first = await _cli_relay(db.schema, log)
    second: asyncio.subprocess.Process | None = None
    try:

        async def some_published() -> bool:
            return await published() >= 40

        await eventually(some_published, within=60, what="the first relay to publish")
        first.kill()  # SIGKILL: no cleanup; PostgreSQL drops its session and the lock
        await first.wait()
        second = await _cli_relay(db.schema, log)
        await asyncio.sleep(1)
        stop_writing.set()
        await writing
        await eventually(lambda: _zero(db), within=60, what="the second relay to drain")
        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), 30) == 0
    finally:
        stop_writing.set()
        await writing
        for proc in (first, second):
            if proc is not None and proc.returncode is None:
                proc.kill()
                await proc.wait()
    records = await consume(bootstrap, topic, wait=90)
    got = ids_of(records)
    assert set(got) == {msg.event_id for msg in recorded}, log.read_text()
    # First deliveries keep each key's order (re-sent batches only repeat what was sent).
    firsts: dict[bytes, list[int]] = {}
    seen: set[str] = set()
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        event_id = headers_dict(r.headers)[m.EVENT_ID]
        if event_id not in seen:
            seen.add(event_id)
            firsts.setdefault(r.key, []).append(int(r.value))
    for key, values in firsts.items():
        assert values == sorted(values), key
