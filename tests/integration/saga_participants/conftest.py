"""Fixtures for the saga participants: the real inventory app and the payment sandbox app
in-process (migrations, relay, consumers) on the test stack's PostgreSQL, Redis and Kafka.
Tests play the orchestrator: they produce `saga.command` records onto the participants' command
topics and read the `saga.reply` records the participants' relays publish on the replies
topics. Every test uses fresh saga, order and variant ids, so tests do not depend on each
other (or on replies left on the topics by earlier runs)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from fastapi import FastAPI

from kommerce.events.message import headers_dict
from kommerce.events.schemas import Registry
from kommerce.events.serde import Event, decode, encode
from services.inventory.app import create_app as inventory_app
from services.inventory.settings import InventorySettings
from services.payment_sandbox.app import create_app as sandbox_app
from services.payment_sandbox.settings import PaymentSandboxSettings
from tests.integration.apps import ensure_topics, eventually, serving
from tests.tokens import TokenMinter

REGISTRY = Registry.load()
SUBJECTS = ["inventory.stock_changed", "inventory.low_stock", "inventory.stock_reserved"]
SAGA_TOPICS = [
    "inventory.commands.v1",
    "payment.commands.v1",
    "checkout.replies.v1",
    "refund.replies.v1",
]
BERLIN = {"latitude": 52.52, "longitude": 13.405}


async def ensure_saga_topics(bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        for topic in SAGA_TOPICS:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([NewTopic(topic, 3, replication_factor=1)])
    finally:
        await admin.close()


class Orchestrator:
    """Sends saga commands and collects the replies (by saga id) as an orchestrator would."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.replies: dict[str, list[Event]] = defaultdict(list)
        self._producer: Any = None
        self._consumer: Any = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        await self._producer.start()
        self._consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None)
        await self._consumer.start()
        partitions = [
            TopicPartition(topic, p)
            for topic in ("checkout.replies.v1", "refund.replies.v1")
            for p in (self._consumer.partitions_for_topic(topic) or {0, 1, 2})
        ]
        self._consumer.assign(partitions)
        await self._consumer.seek_to_end(*partitions)
        for tp in partitions:  # resolve the end offsets now: replies come after this
            await self._consumer.position(tp)
        self._task = asyncio.create_task(self._collect())

    async def _collect(self) -> None:
        async for record in self._consumer:
            event = decode(
                REGISTRY,
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
        saga_type: str = "checkout",
        step: int = 0,
        phase: str = "forward",
        attempt: int = 1,
    ) -> str:
        saga_id = saga_id or str(uuid.uuid4())
        message = encode(
            REGISTRY,
            "saga.command",
            {
                "saga_id": saga_id,
                "saga_type": saga_type,
                "step": step,
                "phase": phase,
                "name": name,
                "attempt": attempt,
                "data": json.dumps(data),
            },
            producer="test-orchestrator",
            correlation_id=saga_id,
            topic=f"{participant}.commands.v1",
        )
        await self._producer.send_and_wait(
            message.topic, value=message.value, key=message.key, headers=list(message.headers)
        )
        return saga_id

    async def reply(self, saga_id: str, *, count: int = 1, seconds: float = 20.0) -> dict[str, Any]:
        """The saga's `count`-th reply's payload, `data` parsed."""
        await eventually(
            lambda: _async_value(len(self.replies[saga_id]) >= count),
            seconds=seconds,
            what=f"{count} reply(ies) for saga {saga_id}",
        )
        payload = dict(self.replies[saga_id][count - 1].payload)
        payload["data"] = json.loads(payload["data"] or "{}")
        return payload

    async def call(
        self, participant: str, name: str, data: dict[str, Any], **command: Any
    ) -> dict[str, Any]:
        """Send one command and wait for its reply."""
        saga_id = await self.send(participant, name, data, **command)
        return await self.reply(saga_id)


async def _async_value(value: bool) -> bool:
    return value


@pytest.fixture(scope="session")
async def orchestrator(stack_env: dict[str, str]) -> AsyncIterator[Orchestrator]:
    bootstrap = stack_env["KOMMERCE_KAFKA_BOOTSTRAP"]
    await ensure_saga_topics(bootstrap)
    o = Orchestrator(bootstrap)
    await o.start()
    yield o
    await o.stop()


class Inventory:
    def __init__(self, app: FastAPI, client: httpx.AsyncClient, minter: TokenMinter) -> None:
        self.app = app
        self.client = client
        self.merchant = minter.bearer(roles=["merchant"])

    async def warehouse(self, location: dict[str, float] = BERLIN) -> str:
        code = f"WH-{uuid.uuid4().hex[:8]}"
        r = await self.client.post(
            "/v1/warehouses",
            json={"code": code, "name": code, "location": location, "country": "DE"},
            headers=self.merchant,
        )
        assert r.status_code == 201, r.text
        return code

    async def stocked(self, quantity: int, code: str | None = None) -> str:
        """A new variant with `quantity` on hand in warehouse `code` (a new one if None)."""
        variant = str(uuid.uuid4())
        r = await self.client.post(
            "/v1/stock/adjustments",
            json={
                "variant_id": variant,
                "warehouse_code": code or await self.warehouse(),
                "delta": quantity,
                "reason": "received",
            },
            headers=self.merchant,
        )
        assert r.status_code in (200, 201), r.text
        return variant

    async def stock(self, variant_id: str) -> dict[str, Any]:
        r = await self.client.get(f"/v1/stock/{variant_id}", headers=self.merchant)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    async def reservation(self, reservation_id: str) -> dict[str, Any]:
        r = await self.client.get(f"/v1/reservations/{reservation_id}", headers=self.merchant)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body


@pytest.fixture(scope="session")
async def inventory(
    stack_env: dict[str, str], minter: TokenMinter, orchestrator: Orchestrator
) -> AsyncIterator[Inventory]:
    await ensure_topics(stack_env["KOMMERCE_KAFKA_BOOTSTRAP"], SUBJECTS)
    suffix = uuid.uuid4().hex[:8]
    settings = InventorySettings(
        environment="test",
        schema_name=f"inventory_p{suffix}",
        consumer_group=f"inventory-p{suffix}",
        sweep_interval_seconds=0.2,
        pool_size=5,
    )
    app = inventory_app(settings, auth=minter.authenticator())
    async with serving(app, base_url="http://inventory.test") as client:
        yield Inventory(app, client, minter)


class PaymentSandbox:
    def __init__(self, app: FastAPI, client: httpx.AsyncClient, minter: TokenMinter) -> None:
        self.app = app
        self.client = client
        self.staff = minter.bearer(roles=["support"])

    async def payment(self, payment_id: str) -> dict[str, Any]:
        r = await self.client.get(f"/v1/payments/{payment_id}", headers=self.staff)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    async def of_order(self, order_id: str) -> list[dict[str, Any]]:
        r = await self.client.get("/v1/payments", params={"order_id": order_id}, headers=self.staff)
        assert r.status_code == 200, r.text
        body: list[dict[str, Any]] = r.json()
        return body


@pytest.fixture(scope="session")
def sandbox_settings(stack_env: dict[str, str]) -> PaymentSandboxSettings:
    suffix = uuid.uuid4().hex[:8]
    return PaymentSandboxSettings(
        environment="test",
        schema_name=f"payment_sandbox_t{suffix}",
        consumer_group=f"payment-sandbox-t{suffix}",
    )


@pytest.fixture(scope="session")
async def payment_sandbox(
    sandbox_settings: PaymentSandboxSettings, minter: TokenMinter, orchestrator: Orchestrator
) -> AsyncIterator[PaymentSandbox]:
    app = sandbox_app(sandbox_settings, auth=minter.authenticator())
    async with serving(app, base_url="http://payment-sandbox.test") as client:
        yield PaymentSandbox(app, client, minter)
