"""Fixtures for the product service: the real app on the test stack's PostgreSQL, Kafka and S3.

Each test session gets its own schema, bucket and consumer group (so reruns start clean); the app
runs in-process through its lifespan (migrations, outbox relay, co-occurrence consumer) and is
reached with httpx over ASGI. Tokens come from a test minter: `merchant` holds catalog:write.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image

from services.product.app import create_app
from services.product.context import ProductContext
from services.product.settings import ProductSettings
from tests.integration.apps import ensure_topics, serving
from tests.tokens import TokenMinter

SUBJECTS = [
    "product.changed",
    "product.deleted",
    "product.price_changed",
    "product.category_changed",
    "order.placed",
]
IMAGE_LIMIT = 256 * 1024


@pytest.fixture(scope="session")
def product_settings(
    stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> ProductSettings:
    tag = uuid.uuid4().hex[:8]
    return ProductSettings(
        environment="test",
        schema_name=f"catalog_t{tag}",
        image_store="s3",
        image_bucket=f"product-images-{tag}",
        image_dir=tmp_path_factory.mktemp("images"),
        image_max_bytes=IMAGE_LIMIT,
    )


class Running:
    def __init__(self, app: FastAPI, client: httpx.AsyncClient) -> None:
        self.app = app
        self.client = client

    @property
    def ctx(self) -> ProductContext:
        context: ProductContext = self.app.state.ctx
        return context


@pytest.fixture(scope="session")
async def product_service(
    product_settings: ProductSettings, minter: TokenMinter, stack_env: dict[str, str]
) -> AsyncIterator[Running]:
    await ensure_topics(stack_env["KOMMERCE_KAFKA_BOOTSTRAP"], SUBJECTS)
    app = create_app(product_settings, auth=minter.authenticator())
    async with serving(app, base_url="http://product.test") as client:
        yield Running(app, client)


@pytest.fixture
def client(product_service: Running) -> httpx.AsyncClient:
    return product_service.client


@pytest.fixture(scope="session")
def merchant(minter: TokenMinter) -> dict[str, str]:
    return minter.bearer(roles=["merchant"])


@pytest.fixture(scope="session")
def customer(minter: TokenMinter) -> dict[str, str]:
    return minter.bearer(roles=["customer"])


def unique(prefix: str = "p") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def product_doc(**overrides: Any) -> dict[str, Any]:
    slug = overrides.pop("slug", unique("shirt"))
    doc: dict[str, Any] = {
        "slug": slug,
        "name": "Acme Oxford Shirt",
        "description": "A shirt.",
        "status": "active",
        "brand": "Acme",
        "category": ["Clothing", "Men", "Shirts"],
        "attributes": {"material": "cotton"},
        "variants": [
            {
                "sku": f"{slug}-M".upper(),
                "name": "M / Blue",
                "attributes": {"size": "M", "colour": "blue"},
                "price": {"amount": 3999, "currency": "EUR"},
                "weight_grams": 250,
            }
        ],
    }
    doc.update(overrides)
    return doc


async def create_product(
    client: httpx.AsyncClient, headers: dict[str, str], **overrides: Any
) -> dict[str, Any]:
    r = await client.post("/v1/products", json=product_doc(**overrides), headers=headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def png(width: int = 640, height: int = 400, fmt: str = "PNG") -> bytes:
    image = Image.new("RGB", (width, height), (200, 30, 60))
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()
