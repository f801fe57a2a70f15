"""Fixtures for the search service: the real app on the test stack's PostgreSQL and Kafka.

Each test session gets its own schema and the app runs in-process through its lifespan (which
starts the index projection on the product and inventory topics), reached with httpx over ASGI.
Events are produced to Kafka exactly as the product and inventory services' relays send them.
The topics outlive test sessions (earlier sessions' products are replayed into this one's
index), so each test works in a category of its own and filters on it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from kommerce.events.schemas import Registry
from kommerce.events.serde import encode
from services.search.app import create_app
from services.search.context import SearchContext
from services.search.indexer import SUBJECTS
from services.search.settings import SearchSettings
from tests.integration.apps import ensure_topics, eventually, serving
from tests.tokens import TokenMinter

REGISTRY = Registry.load()


@pytest.fixture(scope="session")
def search_settings(stack_env: dict[str, str]) -> SearchSettings:
    return SearchSettings(
        environment="test",
        schema_name=f"search_t{uuid.uuid4().hex[:8]}",
        analytics_flush_seconds=0.2,
        personalization_cache_seconds=0,
    )


class Running:
    def __init__(self, app: FastAPI, client: httpx.AsyncClient, producer: AIOKafkaProducer):
        self.app = app
        self.client = client
        self.producer = producer

    @property
    def ctx(self) -> SearchContext:
        c: SearchContext = self.app.state.ctx
        return c

    async def publish(self, subject: str, payload: dict[str, Any]) -> None:
        message = encode(REGISTRY, subject, payload, producer="it-search")
        await self.producer.send_and_wait(
            message.topic, message.value, key=message.key, headers=list(message.headers)
        )


@pytest.fixture(scope="session")
async def search_service(
    search_settings: SearchSettings, minter: TokenMinter
) -> AsyncIterator[Running]:
    bootstrap = search_settings.kafka_bootstrap
    assert bootstrap
    await ensure_topics(bootstrap, SUBJECTS)
    app = create_app(search_settings, auth=minter.authenticator())
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        async with serving(app, base_url="http://search.test") as client:
            yield Running(app, client, producer)
    finally:
        await producer.stop()


@pytest.fixture
def client(search_service: Running) -> httpx.AsyncClient:
    return search_service.client


@pytest.fixture
def admin(minter: TokenMinter) -> dict[str, str]:
    return minter.bearer(roles=["merchant"])


@dataclass
class Catalog:
    """Products of one test, under a category of their own (root → `leaf`)."""

    root_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    leaf_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    root_name: str = "Clothing"
    leaf_name: str = "Shirts"

    def product(
        self,
        name: str,
        *,
        product_id: str | None = None,
        version: int = 1,
        brand: str | None = "Acme",
        description: str = "",
        attributes: dict[str, str] | None = None,
        variants: list[dict[str, Any]] | None = None,
        status: str = "active",
        leaf: tuple[str, str] | None = None,
    ) -> dict[str, Any]:
        pid = product_id or str(uuid.uuid4())
        leaf_id, leaf_name = leaf or (self.leaf_id, self.leaf_name)
        return {
            "product_id": pid,
            "version": version,
            "change": "created" if version == 1 else "updated",
            "slug": f"p-{pid}",
            "name": name,
            "description": description,
            "status": status,
            "brand": brand,
            "category_id": leaf_id,
            "category_path": [self.root_name, leaf_name],
            "category_ids": [self.root_id, leaf_id],
            "attributes": attributes or {},
            "variants": variants
            if variants is not None
            else [variant(pid, price=2999, attributes={"size": "M"})],
            "image_urls": [],
            "changed_at": datetime.now(UTC),
        }


def variant(
    product_id: str,
    *,
    price: int,
    currency: str = "EUR",
    attributes: dict[str, str] | None = None,
    variant_id: str | None = None,
) -> dict[str, Any]:
    vid = variant_id or str(uuid.uuid4())
    return {
        "variant_id": vid,
        "sku": f"SKU-{vid[:8]}",
        "name": "",
        "attributes": attributes or {},
        "price_amount": price,
        "currency": currency,
        "weight_grams": 250,
    }


async def search(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    r = await client.get("/v1/search", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def indexed(
    client: httpx.AsyncClient, catalog: Catalog, count: int, **params: Any
) -> dict[str, Any]:
    """Wait until the catalog's category holds `count` products (matching `params`)."""

    async def check() -> dict[str, Any] | None:
        body = await search(client, category=catalog.root_id, **params)
        return body if body["total"] == count else None

    result: dict[str, Any] = await eventually(check, what=f"{count} products indexed")
    return result


__all__ = ["eventually"]
