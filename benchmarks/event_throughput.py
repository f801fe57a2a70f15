"""Benchmark: events/s through outbox -> relay -> Kafka -> consumer (with the inbox) against raw
aiokafka produce + consume of the same payloads, in the same run. Prints both rates, the ratio
(goal >= 0.5) and end-to-end latency percentiles.

    .venv/bin/python -m benchmarks.event_throughput --events 5000

Runs its own PostgreSQL and Kafka in `$KOMMERCE_STATE/bench-events` (ports offset by 700) and
stops what it started. As in production, the writing side is its own process in both paths (a
raw aiokafka producer; or a "service" recording events in its transactions, 100 per
transaction, plus `kommerce events relay`), and this process consumes (raw aiokafka with a
commit per batch; or `kommerce.events.consumer.Consumer` with its inbox). Both use the same
producer settings (idempotent, acks=all) and topic layout (3 partitions, keyed by order id).
Latency is from the moment an event is handed over (sent / committed) to its handling, by the
wall clock of this one machine.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import subprocess
import sys
import time
import uuid
from datetime import datetime

from benchmarks.common import bench_servers, quantile, say

N_PARTITIONS = 3
WRITE_BATCH = 100  # events per service transaction


def _payload(i: int) -> dict[str, object]:
    return {
        "order_id": f"o-{i}",
        "customer_id": f"c-{i % 97}",
        "currency": "EUR",
        "total_minor": 1000 + i,
        "lines": [{"variant_id": f"v-{i % 13}", "quantity": 1, "unit_price_minor": 1000 + i}],
        "channel": "web",
    }


async def _topic(bootstrap: str, name: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, N_PARTITIONS, 1)])
    finally:
        await admin.close()


# --- the writing side (child processes) ----------------------------------------------------


async def write_raw(bootstrap: str, topic: str, count: int) -> None:
    from aiokafka import AIOKafkaProducer

    from kommerce.events.schemas import Registry
    from kommerce.events.serde import encode

    registry = Registry.load()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for i in range(count):
            msg = encode(registry, "order.placed", _payload(i), producer="bench", topic=topic)
            await producer.send(topic, msg.value, key=msg.key, headers=list(msg.headers))
        await producer.flush()
    finally:
        await producer.stop()


async def write_outbox(db_url: str, schema: str, topic: str, count: int) -> None:
    from kommerce.data.db import Database
    from kommerce.events.outbox import record_many
    from kommerce.events.schemas import Registry
    from kommerce.events.serde import encode

    registry = Registry.load()
    database = Database(url=db_url, schema=schema)
    try:
        for start in range(0, count, WRITE_BATCH):
            async with database.session() as session:
                await record_many(
                    session,
                    [
                        encode(registry, "order.placed", _payload(i), producer="bench", topic=topic)
                        for i in range(start, min(count, start + WRITE_BATCH))
                    ],
                )
    finally:
        await database.close()


def _spawn(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "benchmarks.event_throughput", *args])


# --- the consuming side (this process) -----------------------------------------------------


def _age(occurred_at: str) -> float:
    return time.time() - datetime.fromisoformat(occurred_at).timestamp()


async def raw(bootstrap: str, count: int) -> tuple[float, list[float]]:
    from aiokafka import AIOKafkaConsumer

    from kommerce.events.message import OCCURRED_AT, headers_dict

    topic = f"bench.raw.{uuid.uuid4().hex[:8]}.v1"
    await _topic(bootstrap, topic)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"raw-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    latencies: list[float] = []
    writer = _spawn("--write-raw", bootstrap, topic, str(count))
    started: float | None = None
    while len(latencies) < count:
        batch = await consumer.getmany(timeout_ms=200, max_records=500)
        for records in batch.values():
            for record in records:
                started = started or time.perf_counter()
                latencies.append(_age(headers_dict(record.headers)[OCCURRED_AT]))
        if batch:
            await consumer.commit()
    assert started is not None
    elapsed = time.perf_counter() - started
    writer.wait(timeout=60)
    await consumer.stop()
    return count / elapsed, latencies


async def backbone(bootstrap: str, db_url: str, count: int) -> tuple[float, list[float]]:
    from sqlalchemy import text

    from kommerce.data.db import Database
    from kommerce.events.consumer import ConsumedMessage, Consumer
    from kommerce.events.message import OCCURRED_AT
    from kommerce.events.outbox import ensure_outbox

    topic = f"bench.outbox.{uuid.uuid4().hex[:8]}.v1"
    await _topic(bootstrap, topic)
    producer_schema = f"bench_out_{uuid.uuid4().hex[:6]}"
    consumer_db = Database(url=db_url, schema=f"bench_in_{uuid.uuid4().hex[:6]}")
    producer_db = Database(url=db_url, schema=producer_schema)
    for database in (producer_db, consumer_db):
        await database.ensure_schema()
    await ensure_outbox(producer_db.engine)
    latencies: list[float] = []
    done = asyncio.Event()
    started: list[float] = []

    async def handle(message: ConsumedMessage, _session: object) -> None:
        if not started:
            started.append(time.perf_counter())
        latencies.append(_age(message.headers[OCCURRED_AT]))
        if len(latencies) >= count:
            done.set()

    consumer = Consumer(
        group=f"bench-{uuid.uuid4().hex[:6]}",
        topics=[topic],
        handler=handle,
        database=consumer_db,
        bootstrap=bootstrap,
        max_records=500,
    )
    relay = subprocess.Popen(  # noqa: ASYNC220 - started once, before measuring
        [
            sys.executable,
            "-m",
            "kommerce.cli",
            "events",
            "relay",
            "--schema",
            producer_schema,
            "--database-url",
            db_url.replace("+asyncpg", ""),
            "--bootstrap",
            bootstrap,
            "--poll-interval",
            "0.05",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    await consumer.start()
    consuming = asyncio.create_task(consumer.run())
    writer = _spawn("--write-outbox", db_url, producer_schema, topic, str(count))
    await asyncio.wait_for(done.wait(), timeout=600)
    elapsed = time.perf_counter() - started[0]
    writer.wait(timeout=60)
    relay.send_signal(signal.SIGTERM)
    relay.wait(timeout=60)
    await consumer.stop()
    await consuming
    for database in (producer_db, consumer_db):
        async with database.engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{database.schema}" CASCADE'))
        await database.close()
    return count / elapsed, latencies


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--write-raw":
        asyncio.run(write_raw(sys.argv[2], sys.argv[3], int(sys.argv[4])))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--write-outbox":
        asyncio.run(write_outbox(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])))
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--port-offset", type=int, default=700)
    args = parser.parse_args()
    with bench_servers(
        "bench-events", port_offset=args.port_offset, servers=["postgres", "kafka"]
    ) as env:
        bootstrap = env["KOMMERCE_KAFKA_BOOTSTRAP"]
        db_url = env["KOMMERCE_DATABASE_URL"].replace("postgresql://", "postgresql+asyncpg://", 1)
        say(f"raw aiokafka (producer process -> consumer): {args.events} events ...")
        raw_rate, raw_lat = asyncio.run(raw(bootstrap, args.events))
        say(f"service -> outbox -> relay process -> Kafka -> consumer + inbox: {args.events} ...")
        bb_rate, bb_lat = asyncio.run(backbone(bootstrap, db_url, args.events))
    ms = 1000.0
    for label, rate, lat in (("raw aiokafka", raw_rate, raw_lat), ("backbone", bb_rate, bb_lat)):
        say(
            f"{label:<13}: {rate:8.0f} events/s   latency p50 {quantile(lat, 0.5) * ms:7.1f} ms"
            f"  p99 {quantile(lat, 0.99) * ms:7.1f} ms  (mean {statistics.mean(lat) * ms:.1f})"
        )
    say(f"ratio backbone / raw: {bb_rate / raw_rate:.2f} (goal >= 0.5)")


if __name__ == "__main__":
    main()
