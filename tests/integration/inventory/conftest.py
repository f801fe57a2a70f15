"""Fixtures for the inventory service: the real app on the test stack's PostgreSQL, Redis and
Kafka, in-process through its lifespan (migrations, relay, consumer, sweeper), reached with httpx
over ASGI. Each test session gets its own schema and consumer group; tests use fresh variant ids
and warehouse codes so they do not depend on each other."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.inventory.app import create_app
from services.inventory.context import InventoryContext
from services.inventory.settings import InventorySettings
from tests.integration.apps import ensure_topics, eventually, serving
from tests.tokens import TokenMinter

SUBJECTS = [
    "product.changed",
    "product.deleted",
    "inventory.stock_changed",
    "inventory.low_stock",
    "inventory.stock_reserved",
]
BERLIN = {"latitude": 52.52, "longitude": 13.405}
MADRID = {"latitude": 40.4168, "longitude": -3.7038}
PARIS = {"latitude": 48.8566, "longitude": 2.3522}


@pytest.fixture(scope="package")
def inventory_settings(stack_env: dict[str, str]) -> InventorySettings:
    suffix = uuid.uuid4().hex[:8]
    return InventorySettings(
        environment="test",
        schema_name=f"inventory_t{suffix}",
        consumer_group=f"inventory-t{suffix}",
        sweep_interval_seconds=0.2,
        pool_size=10,
        # saga commands are the saga_participants suite's: this app would answer other
        # suites' checkouts from its own (empty) stock
        participant_enabled=False,
    )


class Running:
    def __init__(self, app: FastAPI, client: httpx.AsyncClient, minter: TokenMinter) -> None:
        self.app = app
        self.client = client
        self.merchant = minter.bearer(roles=["merchant"])
        self.support = minter.bearer(roles=["support"])
        self.shopper = minter.bearer(roles=["shopper"])

    @property
    def ctx(self) -> InventoryContext:
        c: InventoryContext = self.app.state.ctx
        return c

    async def warehouse(self, location: dict[str, float], country: str = "DE") -> str:
        code = f"WH-{uuid.uuid4().hex[:8]}"
        r = await self.client.post(
            "/v1/warehouses",
            json={
                "code": code,
                "name": f"Warehouse {code}",
                "location": location,
                "country": country,
            },
            headers=self.merchant,
        )
        assert r.status_code == 201, r.text
        return code

    async def adjust(
        self, variant_id: str, code: str, delta: int, reason: str = "received"
    ) -> httpx.Response:
        return await self.client.post(
            "/v1/stock/adjustments",
            json={
                "variant_id": variant_id,
                "warehouse_code": code,
                "delta": delta,
                "reason": reason,
            },
            headers=self.merchant,
        )

    async def stock(self, variant_id: str) -> dict[str, Any]:
        r = await self.client.get(f"/v1/stock/{variant_id}", headers=self.merchant)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    async def reserve(self, lines: list[tuple[str, int]], **extra: Any) -> httpx.Response:
        body = {
            "key": extra.pop("key", f"checkout-{uuid.uuid4()}"),
            "lines": [{"variant_id": v, "quantity": q} for v, q in lines],
            **extra,
        }
        return await self.client.post("/v1/reservations", json=body, headers=self.merchant)


@pytest.fixture(scope="package")
async def inventory_service(
    inventory_settings: InventorySettings, minter: TokenMinter, stack_env: dict[str, str]
) -> AsyncIterator[Running]:
    await ensure_topics(stack_env["KOMMERCE_KAFKA_BOOTSTRAP"], SUBJECTS)
    app = create_app(inventory_settings, auth=minter.authenticator())
    async with serving(app, base_url="http://inventory.test") as client:
        yield Running(app, client, minter)


@pytest.fixture
def inv(inventory_service: Running) -> Running:
    return inventory_service


def new_variant() -> str:
    return str(uuid.uuid4())


__all__ = ["eventually"]
