"""Consumers: a consumer group on aiokafka that applies each event once, retries, dead-letters.

For each record, in order within its partition:

1. One database transaction inserts the inbox row `(consumer, event_id)` (ON CONFLICT DO
   NOTHING) and, if the row is new, runs the handler with that session. A row that was already
   there means the event was applied before (a redelivery): the handler is skipped.
2. The transaction commits, then the Kafka offset is committed. A crash in between only causes
   a redelivery, which the inbox skips.

A failing handler is retried in place with exponential backoff and jitter; after the last
attempt the record goes to `<topic>.dlq` with its key, value and headers plus `kommerce-dlq-*`
headers saying why and where it failed, and the consumer moves on. A record without the
`kommerce-event-id` header cannot be deduplicated: it is dead-lettered straight away, and so is
one the handler cannot read (it raises `PoisonMessage` or `serde.DecodeError`). Database
outages outside the handler are not the message's fault: those are retried until they pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy.exc import DBAPIError, InterfaceError
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.data.db import Database
from kommerce.events import inbox
from kommerce.events.dlq import dead_letter_headers
from kommerce.events.message import EVENT_ID, EVENT_TYPE, dlq_topic, headers_dict
from kommerce.events.serde import DecodeError

log = logging.getLogger("kommerce.events.consumer")

MAX_REASON = 1000  # characters of the failure reason kept in the header


class PoisonMessage(Exception):
    """A record no handler can apply (e.g. without an event id)."""


@dataclass(frozen=True)
class ConsumedMessage:
    """A record as handlers see it: the envelope headers decoded, the payload untouched."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]
    event_id: str
    timestamp: datetime
    raw_headers: tuple[tuple[str, bytes], ...] = field(default=(), repr=False)

    @property
    def event_type(self) -> str | None:
        return self.headers.get(EVENT_TYPE)

    @classmethod
    def from_record(cls, record: Any) -> ConsumedMessage:
        raw = tuple((k, v or b"") for k, v in (record.headers or ()))
        headers = headers_dict(raw)
        event_id = headers.get(EVENT_ID, "").strip()
        if not event_id:
            raise PoisonMessage(f"no {EVENT_ID} header: the event cannot be deduplicated")
        return cls(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            headers=headers,
            event_id=event_id,
            timestamp=datetime.fromtimestamp(record.timestamp / 1000, UTC),
            raw_headers=raw,
        )


Handler = Callable[[ConsumedMessage, AsyncSession], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` handler runs in all; between them exponential backoff with equal jitter.

    The delay before retry n (1-based) is drawn uniformly from [d/2, d] where
    d = min(cap, base * 2**(n-1)): it grows, never exceeds the cap, and consumers that failed
    together do not retry in lockstep.
    """

    attempts: int = 5
    base: float = 0.2
    cap: float = 10.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.base < 0 or self.cap < self.base:
            raise ValueError("need 0 <= base <= cap")

    def ceiling(self, retry: int) -> float:
        """The largest delay before retry `retry` (1-based)."""
        if retry < 1:
            raise ValueError("retries count from 1")
        # Cap the exponent too: 2**retry overflows floats for long infrastructure outages.
        return min(self.cap, self.base * 2.0 ** min(retry - 1, 60))

    def delay(self, retry: int, rng: random.Random | None = None) -> float:
        ceiling = self.ceiling(retry)
        return ceiling / 2 + (rng or _random).uniform(0, ceiling / 2)

    def schedule(self, rng: random.Random | None = None) -> list[float]:
        """The delays before each retry of one message (attempts - 1 of them)."""
        return [self.delay(n, rng) for n in range(1, self.attempts)]


_random = random.Random()  # noqa: S311  # nosec B311 - jitter, not cryptography


def failure_reason(exc: BaseException) -> str:
    """`ExceptionType: message`, bounded in length (it travels as a header)."""
    message = str(exc).strip()
    reason = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return reason if len(reason) <= MAX_REASON else reason[: MAX_REASON - 3] + "..."


@dataclass(frozen=True)
class ConsumerMetrics:
    lag: Gauge
    handled: Counter
    duplicates: Counter
    retries: Counter
    dead_lettered: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None) -> ConsumerMetrics:
        """The consumer metrics on `registry` (a private one if None); once per registry."""
        registry = registry if registry is not None else CollectorRegistry()
        labels = ["group", "topic"]
        return cls(
            lag=Gauge(
                "kommerce_consumer_lag",
                "Records behind the partition's high watermark (highwater - position)",
                ["group", "topic", "partition"],
                registry=registry,
            ),
            handled=Counter(
                "kommerce_consumer_handled_total",
                "Records applied by the handler",
                labels,
                registry=registry,
            ),
            duplicates=Counter(
                "kommerce_consumer_duplicates_total",
                "Redelivered records skipped because the inbox had the event",
                labels,
                registry=registry,
            ),
            retries=Counter(
                "kommerce_consumer_retries_total",
                "Handler retries after a failure",
                labels,
                registry=registry,
            ),
            dead_lettered=Counter(
                "kommerce_consumer_dead_lettered_total",
                "Records sent to the dead-letter topic",
                labels,
                registry=registry,
            ),
        )


class _HandlerFailed(Exception):
    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _is_outage(exc: BaseException) -> bool:
    """A database connectivity problem: not the message's fault, so not dead-lettered."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, InterfaceError | OSError | TimeoutError)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: Consumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        # Let the batch in hand finish: its offsets are committed before the partitions move.
        async with self._owner._busy:
            pass
        self._owner._forget(revoked)
        log.info("consumer %s: partitions revoked: %s", self._owner.group, sorted(revoked))

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        log.info("consumer %s: partitions assigned: %s", self._owner.group, sorted(assigned))


class Consumer:
    """One member of consumer group `group`, applying `handler` to records of `topics`.

    `name` identifies the consumer in the inbox (defaults to the group): two consumers of the
    same events with different names each apply every event once.
    """

    def __init__(
        self,
        *,
        group: str,
        topics: Sequence[str],
        handler: Handler,
        database: Database,
        bootstrap: str,
        name: str | None = None,
        retry: RetryPolicy | None = None,
        metrics: ConsumerMetrics | None = None,
        client_id: str | None = None,
        auto_offset_reset: str = "earliest",
        session_timeout_ms: int = 10_000,
        heartbeat_interval_ms: int = 3_000,
        max_poll_interval_ms: int = 300_000,
        poll_timeout_ms: int = 200,
        max_records: int = 100,
        rng: random.Random | None = None,
    ) -> None:
        if not topics:
            raise ValueError("a consumer needs at least one topic")
        self.group = group
        self.name = name or group
        self.topics = tuple(topics)
        self.handler = handler
        self.database = database
        self.bootstrap = bootstrap
        self.retry = retry or RetryPolicy()
        self.metrics = metrics or ConsumerMetrics.create()
        self._client_id = client_id or f"kommerce-{self.name}"
        self._kafka_options: dict[str, Any] = {
            "auto_offset_reset": auto_offset_reset,
            "session_timeout_ms": session_timeout_ms,
            "heartbeat_interval_ms": heartbeat_interval_ms,
            "max_poll_interval_ms": max_poll_interval_ms,
            "rebalance_timeout_ms": max_poll_interval_ms,
        }
        self._poll_timeout_ms = poll_timeout_ms
        self._max_records = max_records
        self._rng = rng
        self._consumer: Any = None
        self._producer: Any = None
        self._busy = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._stopped = asyncio.Event()
        self._running = False
        self._lag_updated = 0.0

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Create the inbox, join the group. `run()` calls it if needed."""
        if self._consumer is not None:
            return
        await inbox.ensure_inbox(self.database)
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            client_id=f"{self._client_id}-dlq",
            acks="all",
            enable_idempotence=True,
        )
        await producer.start()
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=self.group,
            client_id=self._client_id,
            enable_auto_commit=False,
            **self._kafka_options,
        )
        consumer.subscribe(list(self.topics), listener=_Rebalance(self))
        try:
            await consumer.start()
        except BaseException:
            await producer.stop()
            raise
        self._producer, self._consumer = producer, consumer

    async def run(self) -> None:
        """Consume until `stop()`; a record in hand is finished (or left uncommitted) first."""
        await self.start()
        self._running = True
        try:
            while not self._stopping.is_set():
                batch = await self._consumer.getmany(
                    timeout_ms=self._poll_timeout_ms, max_records=self._max_records
                )
                if batch:
                    try:
                        async with self._busy, asyncio.TaskGroup() as tasks:
                            for tp, records in batch.items():
                                tasks.create_task(self._handle_partition(tp, records))
                    except ExceptionGroup as failed:
                        # Surface the first failure itself (e.g. the DLQ unreachable).
                        raise failed.exceptions[0] from failed
                await self._update_lag()
        finally:
            await self._close()
            self._running = False
            self._stopped.set()

    async def stop(self) -> None:
        """Ask `run()` to finish and wait for it; leaves the group so partitions move at once."""
        self._stopping.set()
        if self._running:
            await self._stopped.wait()
        else:
            await self._close()

    def assignment(self) -> set[TopicPartition]:
        return set(self._consumer.assignment()) if self._consumer is not None else set()

    async def _close(self) -> None:
        consumer, producer = self._consumer, self._producer
        self._consumer = self._producer = None
        if consumer is not None:
            self._forget(consumer.assignment())
            await consumer.stop()
        if producer is not None:
            await producer.stop()

    # -- records ----------------------------------------------------------------------------

    async def _handle_partition(self, tp: TopicPartition, records: Sequence[Any]) -> None:
        if len(records) > 1 and not self._stopping.is_set() and await self._apply_batch(records):
            await self._commit(tp, records[-1].offset + 1)
            return
        for record in records:
            if self._stopping.is_set():
                return
            if not await self._handle_record(record):
                return  # stopping mid-retry: left uncommitted, redelivered later
            await self._commit(tp, record.offset + 1)

    async def _apply_batch(self, records: Sequence[Any]) -> bool:
        """The fast path: a partition's whole batch in one transaction and one offset commit.

        Any problem (a poison record, a failing handler, the database) rolls the batch back and
        returns False: the records then go one by one through retries and dead-lettering, so
        the outcome is the same as without the fast path, only slower.
        """
        try:
            messages = [ConsumedMessage.from_record(r) for r in records]
        except PoisonMessage:
            return False
        if len({m.event_id for m in messages}) != len(messages):
            return False  # the same event twice in one batch: let the slow path sort it out
        fresh_count = 0
        try:
            async with self.database.sessions() as session, session.begin():
                fresh = await inbox.record_many(
                    session,
                    consumer=self.name,
                    rows=[
                        {
                            "event_id": m.event_id,
                            "topic": m.topic,
                            "partition": m.partition,
                            "offset": m.offset,
                        }
                        for m in messages
                    ],
                )
                for message in messages:
                    if message.event_id in fresh:
                        fresh_count += 1
                        await self.handler(message, session)
                await session.flush()
        except Exception as exc:  # any failure: redo the batch record by record
            log.info(
                "consumer %s: batch of %s rolled back (%s); handling one by one",
                self.name,
                len(messages),
                failure_reason(exc),
            )
            return False
        labels = (self.group, records[0].topic)
        self.metrics.handled.labels(*labels).inc(fresh_count)
        self.metrics.duplicates.labels(*labels).inc(len(messages) - fresh_count)
        return True

    async def _handle_record(self, record: Any) -> bool:
        """Apply, skip or dead-letter one record; False if stopping interrupted it."""
        labels = (self.group, record.topic)
        try:
            message = ConsumedMessage.from_record(record)
        except PoisonMessage as exc:
            await self._dead_letter(record, reason=failure_reason(exc), attempts=0)
            return True
        attempt = 0
        outages = 0
        while True:
            try:
                fresh = await self._apply(message)
            except _HandlerFailed as failed:
                attempt += 1
                # an event the handler can never read (unknown schema, unreadable payload)
                # does not get better by waiting: dead-letter it now
                unreadable = isinstance(failed.cause, PoisonMessage | DecodeError)
                if unreadable or attempt >= self.retry.attempts:
                    await self._dead_letter(
                        record, reason=failure_reason(failed.cause), attempts=attempt
                    )
                    return True
                delay = self.retry.delay(attempt, self._rng)
                log.warning(
                    "consumer %s: %s/%s@%s failed (attempt %s of %s), retrying in %.2fs: %s",
                    self.name,
                    record.topic,
                    record.partition,
                    record.offset,
                    attempt,
                    self.retry.attempts,
                    delay,
                    failure_reason(failed.cause),
                )
                self.metrics.retries.labels(*labels).inc()
            except Exception as exc:
                if not _is_outage(exc):
                    raise
                outages += 1
                delay = self.retry.delay(outages, self._rng)
                log.warning(
                    "consumer %s: database unavailable, retrying in %.2fs: %s",
                    self.name,
                    delay,
                    failure_reason(exc),
                )
            else:
                (self.metrics.handled if fresh else self.metrics.duplicates).labels(*labels).inc()
                return True
            if await self._sleep_or_stop(delay):
                return False

    async def _apply(self, message: ConsumedMessage) -> bool:
        """Inbox row + handler in one transaction; False if the event was applied before."""
        async with self.database.sessions() as session, session.begin():
            fresh = await inbox.record(
                session,
                consumer=self.name,
                event_id=message.event_id,
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
            )
            if not fresh:
                return False
            try:
                await self.handler(message, session)
                await session.flush()  # constraint violations are the handler's failure
            except Exception as exc:
                if _is_outage(exc):
                    raise
                raise _HandlerFailed(exc) from exc
        return True

    async def _dead_letter(self, record: Any, *, reason: str, attempts: int) -> None:
        headers = dead_letter_headers(
            [(k, v or b"") for k, v in (record.headers or ())],
            reason=reason,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            group=self.group,
            attempts=attempts,
        )
        target = dlq_topic(record.topic)
        await self._producer.send_and_wait(
            target, value=record.value, key=record.key, headers=list(headers)
        )
        self.metrics.dead_lettered.labels(self.group, record.topic).inc()
        log.error(
            "consumer %s: %s/%s@%s dead-lettered to %s after %s attempt(s): %s",
            self.name,
            record.topic,
            record.partition,
            record.offset,
            target,
            attempts,
            reason,
        )

    async def _commit(self, tp: TopicPartition, offset: int) -> None:
        try:
            await self._consumer.commit({tp: offset})
        except (CommitFailedError, IllegalStateError) as exc:
            # The partition moved to another member: it redelivers, the inbox skips.
            log.warning("consumer %s: commit of %s@%s failed: %s", self.name, tp, offset, exc)

    async def _sleep_or_stop(self, seconds: float) -> bool:
        """Sleep; True (early) if `stop()` was called meanwhile."""
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            return False
        return True

    # -- lag --------------------------------------------------------------------------------

    async def _update_lag(self, every: float = 1.0) -> None:
        now = time.monotonic()
        if self._consumer is None or now - self._lag_updated < every:
            return
        self._lag_updated = now
        for tp in self._consumer.assignment():
            highwater = self._consumer.highwater(tp)
            if highwater is None:
                continue
            try:
                position = await asyncio.wait_for(self._consumer.position(tp), timeout=0.5)
            except (TimeoutError, IllegalStateError):
                continue
            self.metrics.lag.labels(self.group, tp.topic, str(tp.partition)).set(
                max(0, highwater - position)
            )

    def _forget(self, partitions: Iterable[TopicPartition]) -> None:
        for tp in partitions:
            with contextlib.suppress(KeyError):
                self.metrics.lag.remove(self.group, tp.topic, str(tp.partition))
