"""CQRS projections: read models built from topics, rebuildable from scratch by replay.

A projection owns some tables in its service's schema and a row per (projection, topic,
partition) in `projection_positions` beside them. It reads its topics with partitions assigned
by itself (no consumer group: a projection is one reader that must see everything), and for
every record applies the event and advances the position **in one transaction**, so the read
model and its position never disagree: after a crash it resumes exactly where the data is.
`rebuild()` empties the read model (the projection's `reset`) and the positions in one
transaction and replays the topics from their beginning.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import Gauge
from sqlalchemy import BigInteger, Column, Integer, MetaData, Table, Text, delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from kommerce.data.db import Database, create_tables
from kommerce.events.message import headers_dict
from kommerce.events.schemas import Registry
from kommerce.events.serde import Event, Upcasters, decode

log = logging.getLogger("kommerce.events.projection")
POSITIONS_METADATA = MetaData()
POSITIONS = Table(
    "projection_positions",
    POSITIONS_METADATA,
    Column("projection", Text, primary_key=True),
    Column("topic", Text, primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
)
PROJECTION_LAG = Gauge(
    "kommerce_projection_lag",
    "Records on the topic not yet applied to the read model",
    ["projection", "topic", "partition"],
)

Apply = Callable[[AsyncSession, Event], Awaitable[None]]
Reset = Callable[[AsyncSession], Awaitable[None]]


async def ensure_positions(target: AsyncEngine | AsyncConnection) -> None:
    await create_tables(target, POSITIONS_METADATA)


@dataclass
class Projection:
    """What a read model is: its name, topics, how an event changes it, how to empty it."""

    name: str
    topics: tuple[str, ...]
    apply: Apply
    reset: Reset


class ProjectionRunner:
    def __init__(
        self,
        projection: Projection,
        *,
        database: Database,
        bootstrap: str,
        registry: Registry,
        upcasters: Upcasters | None = None,
    ) -> None:
        self.projection = projection
        self.database = database
        self.bootstrap = bootstrap
        self.registry = registry
        self.upcasters = upcasters
        self._consumer: AIOKafkaConsumer | None = None

    async def _positions(self) -> dict[TopicPartition, int]:
        async with self.database.session() as session:
            rows = await session.execute(
                select(POSITIONS).where(POSITIONS.c.projection == self.projection.name)
            )
            return {TopicPartition(r.topic, r.partition): r.next_offset for r in rows}

    async def _start(self) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            group_id=None,
        )
        await consumer.start()
        partitions: list[TopicPartition] = []
        for topic in self.projection.topics:
            found: set[int] | None = None
            for _ in range(50):  # a topic created a moment ago takes a while to show
                # aiokafka has no public call that returns partitions of an unassigned topic
                cluster = await consumer._client.fetch_all_metadata()
                found = cluster.partitions_for_topic(topic)
                if found:
                    break
                await asyncio.sleep(0.2)
            if not found:
                await consumer.stop()
                raise RuntimeError(f"topic {topic} does not exist (declare it on the Service)")
            partitions += [TopicPartition(topic, p) for p in sorted(found)]
        consumer.assign(partitions)
        positions = await self._positions()
        for tp in partitions:
            if tp in positions:
                consumer.seek(tp, positions[tp])
            else:
                await consumer.seek_to_beginning(tp)
        return consumer

    async def _apply_batch(self, batch: dict[TopicPartition, list[object]]) -> int:
        applied = 0
        async with self.database.session() as session:
            for tp, records in batch.items():
                for record in records:
                    event = decode(
                        self.registry,
                        key=record.key,  # type: ignore[attr-defined]
                        value=record.value,  # type: ignore[attr-defined]
                        headers=headers_dict(record.headers),  # type: ignore[attr-defined]
                        upcasters=self.upcasters,
                    )
                    await self.projection.apply(session, event)
                    applied += 1
                last = records[-1].offset  # type: ignore[attr-defined]
                await session.execute(
                    insert(POSITIONS)
                    .values(
                        projection=self.projection.name,
                        topic=tp.topic,
                        partition=tp.partition,
                        next_offset=last + 1,
                    )
                    .on_conflict_do_update(
                        index_elements=["projection", "topic", "partition"],
                        set_={"next_offset": last + 1},
                    )
                )
        return applied

    async def run_until_caught_up(self, *, idle_timeout_ms: int = 500) -> int:
        """Apply everything up to the current end of the topics; returns events applied."""
        consumer = await self._start()
        total = 0
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=idle_timeout_ms, max_records=500)
                if batch:
                    total += await self._apply_batch(batch)
                    continue
                ends = await consumer.end_offsets(list(consumer.assignment()))
                lag = {tp: ends[tp] - await consumer.position(tp) for tp in ends}
                for tp, behind in lag.items():
                    PROJECTION_LAG.labels(self.projection.name, tp.topic, tp.partition).set(behind)
                if all(behind <= 0 for behind in lag.values()):
                    return total
        finally:
            await consumer.stop()

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the read model current until `stop` is set (the service's background task)."""
        consumer = await self._start()
        try:
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=500, max_records=500)
                if batch:
                    await self._apply_batch(batch)
        finally:
            await consumer.stop()

    async def rebuild(self) -> int:
        """Empty the read model and its positions together, then replay from the beginning."""
        async with self.database.session() as session:
            await self.projection.reset(session)
            await session.execute(
                delete(POSITIONS).where(POSITIONS.c.projection == self.projection.name)
            )
        log.info("projection reset; replaying", extra={"projection": self.projection.name})
        return await self.run_until_caught_up()
