"""The outbox relay: publishes a service's recorded events to Kafka, in order, at least once.

One relay is active per service schema: it holds a PostgreSQL session advisory lock keyed by the
schema on its own connection and runs every outbox query on that same connection, so if the
connection (and with it the lock) is lost, it stops publishing and competes for the lock again.
A second relay waits for the lock; order holds because only one process ever publishes.

The loop: read the oldest unpublished rows in `id` order (a batch), send them with an idempotent
producer (`enable_idempotence=True`, `acks="all"`; aiokafka keeps at most one request in flight
per broker connection, so retries never reorder a partition), wait for every ack, then mark the
batch published in one UPDATE. If anything fails (Kafka down, a timeout, PostgreSQL gone) the
rows stay unpublished and the batch is retried from its first row after a backoff with a fresh
producer: nothing is lost, and a crash between the acks and the UPDATE only re-sends
(consumers deduplicate on the `kommerce-event-id` header).

Runs inside a service process (`await relay.start()` ... `await relay.stop()`) or standalone
(`kommerce events relay --schema SCHEMA`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kommerce.data.db import Database
from kommerce.events.outbox import OUTBOX, OutboxRow, row_to_outbox

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


def lock_key(schema: str) -> int:
    """The advisory lock key of a schema's relay: a stable signed 64-bit integer."""
    digest = hashlib.sha256(f"kommerce-outbox-relay:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def backoff_delay(failures: int, *, base: float, cap: float) -> float:
    """Seconds to wait after `failures` consecutive failures (exponential, capped)."""
    if failures <= 0:
        return 0.0
    return float(min(cap, base * (2 ** min(failures - 1, 30))))


def describe(exc: BaseException) -> str:
    """One line naming a failure: its type and the first line of its message."""
    name = type(exc).__name__
    detail = (str(exc).strip().splitlines() or ["no detail"])[0]
    return detail if detail.startswith(name) else f"{name}: {detail}"


@dataclass(frozen=True)
class RelayMetrics:
    registry: CollectorRegistry
    backlog: Gauge
    lag: Gauge
    latency: Histogram
    published: Counter
    failures: Counter


def relay_metrics(registry: CollectorRegistry | None = None) -> RelayMetrics:
    """The relay's metrics in `registry` (a new one if None), labelled by schema.

    Register them once per registry: relays of several schemas in one process share the result
    (`Relay(metrics=...)`).
    """
    registry = registry if registry is not None else CollectorRegistry()
    return RelayMetrics(
        registry=registry,
        backlog=Gauge("outbox_backlog", "Unpublished outbox rows", ["schema"], registry=registry),
        lag=Gauge(
            "outbox_lag_seconds",
            "Age of the oldest unpublished outbox row",
            ["schema"],
            registry=registry,
        ),
        latency=Histogram(
            "outbox_publish_latency_seconds",
            "From the row's created_at to the broker's ack",
            ["schema"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        published=Counter(
            "outbox_published_total", "Outbox events published", ["schema"], registry=registry
        ),
        failures=Counter(
            "outbox_publish_failures_total",
            "Failed relay attempts (retried)",
            ["schema"],
            registry=registry,
        ),
    )


ProducerFactory = Callable[[], AIOKafkaProducer]


class Relay:
    """Publishes one schema's outbox. `run()` until `request_stop()`, or `start()`/`stop()`."""

    def __init__(
        self,
        *,
        database_url: str,
        schema: str,
        bootstrap: str,
        batch_size: int = 500,
        poll_interval: float = 0.2,
        lock_poll_interval: float = 1.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 10.0,
        publish_timeout: float = 30.0,
        stats_interval: float = 1.0,
        metrics: RelayMetrics | None = None,
        registry: CollectorRegistry | None = None,
        say: Callable[[str], None] | None = None,
        producer_factory: ProducerFactory | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.schema = schema
        self.bootstrap = bootstrap
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.lock_poll_interval = lock_poll_interval
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.publish_timeout = publish_timeout
        self.stats_interval = stats_interval
        self.metrics = metrics if metrics is not None else relay_metrics(registry)
        self._say = say
        self._producer_factory = producer_factory or self._default_producer
        self._db = Database(url=database_url, schema=schema, pool_size=1)
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: AsyncConnection | None = None
        self._producer: AIOKafkaProducer | None = None
        self._stats_at = 0.0
        self.holds_lock = False
        self._told_waiting = False
        self.published_total = 0
        self.batches = 0

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Run the relay as a background task of the current event loop."""
        if self._task is not None and not self._task.done():
            return
        self._stopping.clear()
        self._task = asyncio.create_task(self.run(), name=f"outbox-relay-{self.schema}")

    def request_stop(self) -> None:
        """Stop after the current batch (safe from a signal handler)."""
        self._stopping.set()

    async def stop(self, grace: float = 30.0) -> None:
        """Stop after the current batch; cancel if that takes longer than `grace` seconds."""
        self.request_stop()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), grace)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self) -> None:
        """The relay loop, until `request_stop()`; releases the lock and connections at the end."""
        failures = 0
        try:
            while not self._stopping.is_set():
                try:
                    if not await self._ensure_lock():
                        await self._sleep(self.lock_poll_interval)
                        continue
                    sent = await self.relay_once()
                    failures = 0
                    if sent < self.batch_size:
                        await self._sleep(self.poll_interval)
                except Exception as exc:
                    failures += 1
                    self.metrics.failures.labels(self.schema).inc()
                    delay = backoff_delay(failures, base=self.backoff_base, cap=self.backoff_cap)
                    self._tell(
                        f"relay {self.schema}: {describe(exc)}; retrying in {delay:.1f}s",
                        level=logging.WARNING,
                    )
                    await self._reset()
                    await self._sleep(delay)
        finally:
            await self._shutdown()

    # ---- one batch -------------------------------------------------------------------------

    async def relay_once(self) -> int:
        """Publish the oldest unpublished batch and mark it; returns how many were published.

        Needs the lock (`run` takes it). Raises on any failure, leaving the rows unpublished.
        """
        conn = self._require_conn()
        await self._refresh_stats(conn)
        rows = await self.fetch_batch(conn)
        if not rows:
            await self._refresh_stats(conn, force=True)
            return 0
        await self.publish(rows)
        acked = time.time()
        await self.after_publish(rows)
        await self.mark_published(conn, rows)
        for row in rows:
            self.metrics.latency.labels(self.schema).observe(
                max(0.0, acked - row.created_at.timestamp())
            )
        self.metrics.published.labels(self.schema).inc(len(rows))
        self.published_total += len(rows)
        self.batches += 1
        self._tell(f"relay {self.schema}: published {len(rows)} (total {self.published_total})")
        if len(rows) < self.batch_size:
            await self._refresh_stats(conn, force=True)
        return len(rows)

    async def fetch_batch(self, conn: AsyncConnection) -> list[OutboxRow]:
        query = (
            select(
                OUTBOX.c.id,
                OUTBOX.c.event_id,
                OUTBOX.c.topic,
                OUTBOX.c.key,
                OUTBOX.c.value,
                OUTBOX.c.headers,
                OUTBOX.c.created_at,
            )
            .where(OUTBOX.c.published_at.is_(None))
            .order_by(OUTBOX.c.id)
            .limit(self.batch_size)
        )
        async with conn.begin():
            result = await conn.execute(query)
            return [row_to_outbox(*row) for row in result.all()]

    async def publish(self, rows: Sequence[OutboxRow]) -> None:
        """Send every row in order and wait for all acks (raises if any send fails)."""
        producer = await self._require_producer()

        async def send_all() -> None:
            futures: list[asyncio.Future[Any]] = []
            for row in rows:
                msg = row.message
                futures.append(
                    await producer.send(
                        msg.topic, msg.value, key=msg.key, headers=list(msg.headers)
                    )
                )
            results = await asyncio.gather(*futures, return_exceptions=True)
            for result in results:  # every future is awaited: no "never retrieved" warnings
                if isinstance(result, BaseException):
                    raise result

        try:
            await asyncio.wait_for(send_all(), self.publish_timeout)
        except TimeoutError as exc:
            raise TimeoutError(
                f"no ack for {len(rows)} events within {self.publish_timeout:g}s"
            ) from exc

    async def after_publish(self, rows: Sequence[OutboxRow]) -> None:
        """Hook between the broker's acks and the UPDATE (a crash here means re-sending)."""

    async def mark_published(self, conn: AsyncConnection, rows: Sequence[OutboxRow]) -> None:
        ids = [row.id for row in rows]
        async with conn.begin():
            await conn.execute(
                update(OUTBOX).where(OUTBOX.c.id.in_(ids)).values(published_at=func.now())
            )

    # ---- lock, connections, producer -------------------------------------------------------

    async def _ensure_lock(self) -> bool:
        if self._conn is not None and self.holds_lock:
            return True
        if self._conn is None:
            self._conn = await self._db.engine.connect()
        async with self._conn.begin():
            got = (
                await self._conn.execute(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": lock_key(self.schema)}
                )
            ).scalar()
        if got:
            self.holds_lock = True
            self._tell(f"relay {self.schema}: lock acquired, publishing")
        elif not self._told_waiting:
            self._tell(f"relay {self.schema}: another relay holds the lock; waiting")
        self._told_waiting = not got
        return bool(got)

    def _require_conn(self) -> AsyncConnection:
        if self._conn is None or not self.holds_lock:
            raise RuntimeError("the relay does not hold its schema lock")
        return self._conn

    def _default_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            client_id=f"kommerce-outbox-relay-{self.schema}",
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            request_timeout_ms=10_000,
            retry_backoff_ms=200,
        )

    async def _require_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = self._producer_factory()
            try:
                await asyncio.wait_for(producer.start(), self.publish_timeout)
            except BaseException:
                await self._stop_producer(producer)
                raise
            self._producer = producer
        return self._producer

    async def _stop_producer(self, producer: AIOKafkaProducer) -> None:
        try:
            await asyncio.wait_for(producer.stop(), 15)
        except Exception as exc:  # the broker may be gone: nothing to flush that matters
            log.debug("producer stop failed: %s", exc)

    async def _refresh_stats(self, conn: AsyncConnection, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._stats_at < self.stats_interval:
            return
        self._stats_at = now
        query = select(
            func.count(),
            func.extract("epoch", func.now() - func.min(OUTBOX.c.created_at)),
        ).where(OUTBOX.c.published_at.is_(None))
        async with conn.begin():
            count, age = (await conn.execute(query)).one()
        self.metrics.backlog.labels(self.schema).set(count)
        self.metrics.lag.labels(self.schema).set(float(age or 0.0))

    async def _reset(self) -> None:
        """After a failure: drop the producer and the connection (and so the lock)."""
        producer, self._producer = self._producer, None
        if producer is not None:
            await self._stop_producer(producer)
        conn, self._conn = self._conn, None
        self.holds_lock = False
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.invalidate()
            with contextlib.suppress(Exception):
                await conn.close()

    async def _shutdown(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await self._stop_producer(producer)
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                if self.holds_lock:
                    async with conn.begin():
                        await conn.execute(
                            text("SELECT pg_advisory_unlock(:key)"), {"key": lock_key(self.schema)}
                        )
                await conn.close()
            except Exception:
                with contextlib.suppress(Exception):
                    await conn.invalidate()
        self.holds_lock = False
        await self._db.close()  # closes the pooled connection: the lock cannot outlive the relay

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def _tell(self, message: str, *, level: int = logging.INFO) -> None:
        if self._say is not None:  # the CLI's progress output
            self._say(message)
        else:
            log.log(level, message)
