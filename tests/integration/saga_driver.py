"""A test driver playing a saga orchestrator against the real participants: it produces
`saga.command` records onto `<participant>.commands.v1` and collects the `saga.reply` records
the participants' relays publish on the replies topics, by saga id. Create the topics first
(`apps.ensure_topics(bootstrap, [], topics=[...])`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from kommerce.events.emitter import registry
from kommerce.events.message import headers_dict
from kommerce.events.serde import Event, decode, encode
from tests.integration.apps import eventually


class SagaDriver:
    """Sends saga commands and collects the replies (by saga id) as an orchestrator would.

    `replies`: the replies topics to read (a participant answers on `<saga_type>.replies.v1`);
    `saga_type` and `producer`: what the commands carry unless a call says otherwise. Only
    replies published after `start()` are seen."""

    def __init__(
        self,
        bootstrap: str,
        *,
        replies: Iterable[str] = ("checkout.replies.v1", "refund.replies.v1"),
        saga_type: str = "checkout",
        producer: str = "test-orchestrator",
    ) -> None:
        self.bootstrap = bootstrap
        self.replies_topics = tuple(replies)
        self.saga_type = saga_type
        self.producer = producer
        self.replies: dict[str, list[Event]] = defaultdict(list)
        self._producer: Any = None
        self._consumer: Any = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        await self._producer.start()
        self._consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None)
        await self._consumer.start()
        partitions = [  # the topics' real partitions (one if a consumer auto-created it)
            TopicPartition(topic, p)
            for topic in self.replies_topics
            for p in sorted(await self._producer.partitions_for(topic))
        ]
        self._consumer.assign(partitions)
        await self._consumer.seek_to_end(*partitions)
        for tp in partitions:  # resolve the end offsets now: replies come after this
            await self._consumer.position(tp)
        self._task = asyncio.create_task(self._collect())

    async def _collect(self) -> None:
        async for record in self._consumer:
            event = decode(
                registry(),
                key=record.key,
                value=record.value,
                headers=headers_dict(tuple(record.headers or ())),
            )
            self.replies[event.payload["saga_id"]].append(event)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()
        await self._producer.stop()

    async def send(
        self,
        participant: str,
        name: str,
        data: dict[str, Any],
        *,
        saga_id: str | None = None,
        saga_type: str | None = None,
        step: int = 0,
        phase: str = "forward",
        attempt: int = 1,
    ) -> str:
        """Produce one command onto `<participant>.commands.v1`; returns its saga id."""
        saga_id = saga_id or str(uuid.uuid4())
        message = encode(
            registry(),
            "saga.command",
            {
                "saga_id": saga_id,
                "saga_type": saga_type or self.saga_type,
                "step": step,
                "phase": phase,
                "name": name,
                "attempt": attempt,
                "data": json.dumps(data),
            },
            producer=self.producer,
            correlation_id=saga_id,
            topic=f"{participant}.commands.v1",
        )
        await self._producer.send_and_wait(
            message.topic, value=message.value, key=message.key, headers=list(message.headers)
        )
        return saga_id

    async def reply(self, saga_id: str, *, count: int = 1, seconds: float = 20.0) -> dict[str, Any]:
        """The saga's `count`-th reply's payload, `data` parsed."""

        async def arrived() -> bool:
            return len(self.replies[saga_id]) >= count

        await eventually(arrived, seconds=seconds, what=f"{count} reply(ies) for saga {saga_id}")
        payload = dict(self.replies[saga_id][count - 1].payload)
        payload["data"] = json.loads(payload["data"] or "{}")
        return payload

    async def call(
        self, participant: str, name: str, data: dict[str, Any], **command: Any
    ) -> dict[str, Any]:
        """Send one command and wait for its reply."""
        saga_id = await self.send(participant, name, data, **command)
        return await self.reply(saga_id)

    async def command(
        self, participant: str, name: str, data: dict[str, Any], **command: Any
    ) -> dict[str, Any]:
        """Send one command and return its reply's data (the reply must be a success)."""
        reply = await self.call(participant, name, data, **command)
        assert reply["outcome"] == "success", reply
        result: dict[str, Any] = reply["data"]
        return result
