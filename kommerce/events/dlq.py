"""Dead letters and replays, as the `kommerce events dlq|replay` commands use them.

Reading: a dead-letter topic `<topic>.dlq` is read from its beginning to its end offsets by an
assigned (group-less) consumer, so looking never moves anybody's offsets.

Replaying: each chosen dead letter is re-published to its original topic with its key, value and
original headers (the `kommerce-dlq-*` ones dropped, the event id kept: a consumer that did
apply it meanwhile skips it through its inbox). After each re-publish a marker record keyed
`<partition>:<offset>` goes to `<topic>.dlq.replayed`; a later replay skips marked letters. A
marker topic rather than a committed group offset because replays can be selective (offset 7
but not 5): what was replayed is a set, not a watermark.

Re-delivering history: `reset_group_offsets` moves one consumer group's committed offsets on a
topic back to the first record at or after a time (`offsets_for_times`); it refuses while the
group has members, since a live member would overwrite the offsets with its own commits.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError

from kommerce.events.message import (
    DLQ_ATTEMPTS,
    DLQ_GROUP,
    DLQ_OFFSET,
    DLQ_PARTITION,
    DLQ_REASON,
    DLQ_SUFFIX,
    DLQ_TOPIC,
    EVENT_ID,
    EVENT_TYPE,
    dlq_topic,
    headers_dict,
)

DLQ_HEADERS = frozenset({DLQ_REASON, DLQ_TOPIC, DLQ_PARTITION, DLQ_OFFSET, DLQ_GROUP, DLQ_ATTEMPTS})
REPLAYED_SUFFIX = ".replayed"
# Group states in which nobody holds partitions (offsets may be rewritten safely).
IDLE_GROUP_STATES = frozenset({"Empty", "Dead", ""})


Headers = Sequence[tuple[str, bytes]]


def without_dlq_headers(headers: Headers) -> tuple[tuple[str, bytes], ...]:
    """The headers minus any `kommerce-dlq-*` ones (what a replay re-publishes)."""
    return tuple((k, v) for k, v in headers if k not in DLQ_HEADERS)


def dead_letter_headers(
    headers: Headers,
    *,
    reason: str,
    topic: str,
    partition: int,
    offset: int,
    group: str,
    attempts: int,
) -> tuple[tuple[str, bytes], ...]:
    """The original headers (earlier DLQ headers dropped) plus why and where it failed."""
    added = {
        DLQ_REASON: reason,
        DLQ_TOPIC: topic,
        DLQ_PARTITION: str(partition),
        DLQ_OFFSET: str(offset),
        DLQ_GROUP: group,
        DLQ_ATTEMPTS: str(attempts),
    }
    return without_dlq_headers(headers) + tuple((k, v.encode()) for k, v in added.items())


class DeadLetterError(Exception):
    """A problem the user can act on; the message says what to do."""


def resolve_dlq(topic: str) -> str:
    """Accept a topic or its dead-letter topic; return the dead-letter topic."""
    return topic if topic.endswith(DLQ_SUFFIX) else dlq_topic(topic)


def replayed_topic(dlq: str) -> str:
    return dlq + REPLAYED_SUFFIX


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    timestamp: datetime
    dlq: str

    @classmethod
    def from_record(cls, record: Any) -> DeadLetter:
        return cls(
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            headers=tuple((k, v or b"") for k, v in (record.headers or ())),
            timestamp=datetime.fromtimestamp(record.timestamp / 1000, UTC),
            dlq=record.topic,
        )

    @property
    def marker(self) -> str:
        return f"{self.partition}:{self.offset}"

    def header(self, name: str) -> str | None:
        return headers_dict(self.headers).get(name)

    @property
    def event_id(self) -> str | None:
        return self.header(EVENT_ID)

    @property
    def event_type(self) -> str | None:
        return self.header(EVENT_TYPE)

    @property
    def reason(self) -> str:
        return self.header(DLQ_REASON) or "?"

    @property
    def original_topic(self) -> str:
        return self.header(DLQ_TOPIC) or self.dlq.removesuffix(DLQ_SUFFIX)

    @property
    def original_partition(self) -> int | None:
        found = self.header(DLQ_PARTITION)
        return int(found) if found and found.isdigit() else None

    @property
    def original_offset(self) -> int | None:
        found = self.header(DLQ_OFFSET)
        return int(found) if found and found.isdigit() else None

    @property
    def group(self) -> str | None:
        return self.header(DLQ_GROUP)

    @property
    def attempts(self) -> str | None:
        return self.header(DLQ_ATTEMPTS)


def _unreachable(bootstrap: str, exc: BaseException) -> DeadLetterError:
    return DeadLetterError(
        f"cannot reach Kafka at {bootstrap} ({exc}); start it with `kommerce stack up kafka` "
        "or point KOMMERCE_KAFKA_BOOTSTRAP (--bootstrap) at a running broker"
    )


async def _started_consumer(bootstrap: str, **options: Any) -> Any:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        request_timeout_ms=10_000,
        **options,
    )
    try:
        await consumer.start()
    except KafkaConnectionError as exc:
        await consumer.stop()
        raise _unreachable(bootstrap, exc) from exc
    return consumer


async def _partitions(consumer: Any, topic: str) -> list[TopicPartition] | None:
    """The topic's partitions, or None if it does not exist (without creating it)."""
    # A full metadata fetch (not `partitions_for_topic`, which only knows topics already
    # tracked): asking for one topic by name would auto-create it on brokers that allow that.
    cluster = await consumer._client.fetch_all_metadata()
    found = cluster.partitions_for_topic(topic)
    if not found:
        return None
    return [TopicPartition(topic, p) for p in sorted(found)]


async def _read_topic(consumer: Any, topic: str) -> list[Any] | None:
    """Every record of `topic` up to its current end; None if the topic does not exist."""
    partitions = await _partitions(consumer, topic)
    if partitions is None:
        return None
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    ends = await consumer.end_offsets(partitions)
    records: list[Any] = []
    pending = {tp for tp in partitions if ends[tp] > 0}
    pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
    while pending:
        batch = await consumer.getmany(*pending, timeout_ms=1000)
        for tp, got in batch.items():
            records.extend(r for r in got if r.offset < ends[tp])
        pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
    return records


async def read_dead_letters(bootstrap: str, topic: str) -> tuple[list[DeadLetter], set[str]]:
    """The dead letters of `topic` (or of the DLQ topic given) and the markers already replayed."""
    dlq = resolve_dlq(topic)
    consumer = await _started_consumer(bootstrap)
    try:
        records = await _read_topic(consumer, dlq)
        if records is None:
            raise DeadLetterError(
                f"no topic {dlq}: nothing has been dead-lettered from "
                f"{dlq.removesuffix(DLQ_SUFFIX)} yet (check the topic name)"
            )
        markers = await _read_topic(consumer, replayed_topic(dlq)) or []
    except KafkaConnectionError as exc:
        raise _unreachable(bootstrap, exc) from exc
    finally:
        await consumer.stop()
    letters = sorted(
        (DeadLetter.from_record(r) for r in records), key=lambda d: (d.partition, d.offset)
    )
    return letters, {r.key.decode() for r in markers if r.key}


@dataclass(frozen=True)
class ReplayPlan:
    replay: list[DeadLetter]
    already: list[DeadLetter]  # chosen but replayed before (skipped unless forced)


def plan_replay(
    letters: Iterable[DeadLetter],
    replayed: set[str],
    *,
    offsets: Iterable[int] | None,
    partition: int | None = None,
    force: bool = False,
) -> ReplayPlan:
    """Choose what to replay: the given offsets (all if None), minus those replayed before."""
    chosen = [d for d in letters if partition is None or d.partition == partition]
    if offsets is not None:
        wanted = set(offsets)
        chosen = [d for d in chosen if d.offset in wanted]
        missing = wanted - {d.offset for d in chosen}
        if missing:
            raise DeadLetterError(
                f"no dead letter at offset(s) {', '.join(map(str, sorted(missing)))}"
                + (f" in partition {partition}" if partition is not None else "")
                + "; `kommerce events dlq list TOPIC` shows what there is"
            )
    if force:
        return ReplayPlan(replay=chosen, already=[])
    return ReplayPlan(
        replay=[d for d in chosen if d.marker not in replayed],
        already=[d for d in chosen if d.marker in replayed],
    )


async def replay(bootstrap: str, letters: Iterable[DeadLetter]) -> list[DeadLetter]:
    """Re-publish each letter to its original topic, then mark it replayed; returns those done."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, request_timeout_ms=10_000
    )
    try:
        await producer.start()
    except KafkaConnectionError as exc:
        await producer.stop()
        raise _unreachable(bootstrap, exc) from exc
    done: list[DeadLetter] = []
    try:
        for letter in letters:
            await producer.send_and_wait(
                letter.original_topic,
                value=letter.value,
                key=letter.key,
                headers=list(without_dlq_headers(letter.headers)),
            )
            marker = {
                "replayed_at": datetime.now(UTC).isoformat(),
                "to": letter.original_topic,
                "event_id": letter.event_id,
            }
            await producer.send_and_wait(
                replayed_topic(letter.dlq),
                value=json.dumps(marker).encode(),
                key=letter.marker.encode(),
            )
            done.append(letter)
    finally:
        await producer.stop()
    return done


def parse_time(value: str) -> datetime:
    """An ISO 8601 time (`2026-11-27T17:00:00Z`; no zone means UTC) or Unix milliseconds."""
    text = value.strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise DeadLetterError(
            f"not a time: {value!r}; use ISO 8601 like 2026-11-27T17:00:00Z or Unix milliseconds"
        ) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class OffsetReset:
    partition: int
    committed: int | None  # None: the group had no committed offset
    target: int


async def group_state(admin: Any, group: str) -> tuple[str, int]:
    """The group's state and number of members."""
    responses = await admin.describe_consumer_groups([group])
    for response in responses:
        for described in response.to_object()["groups"]:
            if described["group"] == group:
                return described["state"], len(described["members"])
    return "", 0


async def reset_group_offsets(
    bootstrap: str, *, topic: str, group: str, since: datetime, dry_run: bool = False
) -> list[OffsetReset]:
    """Point `group`'s offsets on `topic` at the first records at/after `since`."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    try:
        await admin.start()
    except KafkaConnectionError as exc:
        await admin.close()
        raise _unreachable(bootstrap, exc) from exc
    try:
        state, members = await group_state(admin, group)
        if members or state not in IDLE_GROUP_STATES:
            raise DeadLetterError(
                f"consumer group {group} is active ({state}, {members} member(s)); stop its "
                "consumers first: a live member would overwrite the reset with its own commits"
            )
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()

    consumer = await _started_consumer(bootstrap, group_id=group)
    try:
        partitions = await _partitions(consumer, topic)
        if partitions is None:
            raise DeadLetterError(f"no topic {topic} (check the name)")
        found = await consumer.offsets_for_times(
            {tp: int(since.timestamp() * 1000) for tp in partitions}
        )
        ends = await consumer.end_offsets(partitions)
        resets = []
        for tp in partitions:
            at = found.get(tp)
            old = committed.get(tp)
            resets.append(
                OffsetReset(
                    partition=tp.partition,
                    committed=old.offset if old is not None and old.offset >= 0 else None,
                    # Nothing at/after the time: the end, so nothing is re-delivered.
                    target=at.offset if at is not None else ends[tp],
                )
            )
        if not dry_run:
            consumer.assign(partitions)
            await consumer.commit({TopicPartition(topic, r.partition): r.target for r in resets})
    except KafkaError as exc:
        raise DeadLetterError(f"resetting {group} on {topic} failed: {exc}") from exc
    finally:
        await consumer.stop()
    return resets
