"""Fixtures for the saga participants: the real inventory app and the payment sandbox app
in-process (migrations, relay, consumers) on the test stack's PostgreSQL, Redis and Kafka.
Tests play the orchestrator (`orchestrator`: tests/integration/saga_driver.py): they produce
`saga.command` records onto the participants' command topics and read the `saga.reply` records
the participants' relays publish on the replies topics. Every test uses fresh saga, order and
variant ids, so tests do not depend on each other (or on replies left on the topics by earlier
runs)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from kommerce.events.schemas import Registry
from services.inventory.app import create_app as inventory_app
from services.inventory.settings import InventorySettings
from services.payment_sandbox.app import create_app as sandbox_app
from services.payment_sandbox.settings import PaymentSandboxSettings
from tests.integration.apps import ensure_topics, serving
from tests.integration.order_topics import BERLIN, INVENTORY_SUBJECTS, SAGA_TOPICS
from tests.integration.saga_driver import SagaDriver
from tests.tokens import TokenMinter

REGISTRY = Registry.load()


@pytest.fixture(scope="package")
async def orchestrator(stack_env: dict[str, str]) -> AsyncIterator[SagaDriver]:
    bootstrap = stack_env["KOMMERCE_KAFKA_BOOTSTRAP"]
    await ensure_topics(bootstrap, [], topics=SAGA_TOPICS)
    o = SagaDriver(bootstrap)
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


@pytest.fixture(scope="package")
async def inventory(
    stack_env: dict[str, str], minter: TokenMinter, orchestrator: SagaDriver
) -> AsyncIterator[Inventory]:
    await ensure_topics(stack_env["KOMMERCE_KAFKA_BOOTSTRAP"], INVENTORY_SUBJECTS)
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


@pytest.fixture(scope="package")
def sandbox_settings(stack_env: dict[str, str]) -> PaymentSandboxSettings:
    suffix = uuid.uuid4().hex[:8]
    return PaymentSandboxSettings(
        environment="test",
        schema_name=f"payment_sandbox_t{suffix}",
        consumer_group=f"payment-sandbox-t{suffix}",
    )


@pytest.fixture(scope="package")
async def payment_sandbox(
    sandbox_settings: PaymentSandboxSettings, minter: TokenMinter, orchestrator: SagaDriver
) -> AsyncIterator[PaymentSandbox]:
    app = sandbox_app(sandbox_settings, auth=minter.authenticator())
    async with serving(app, base_url="http://payment-sandbox.test") as client:
        yield PaymentSandbox(app, client, minter)
