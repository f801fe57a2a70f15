"""The catalogue end to end through the real event backbone: a merchant creates a product in the
product service, inventory learns its variant from `product.changed`, stock received in
inventory reaches search as `inventory.stock_changed`, and a shopper finds the product — in
stock — within seconds. Three real services in-process, each with its own schema, relay and
consumers, on the test stack's PostgreSQL, Redis and Kafka; nothing is produced by hand.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.inventory.app import create_app as inventory_app
from services.inventory.settings import InventorySettings
from services.product.app import create_app as product_app
from services.product.settings import ProductSettings
from services.search.app import create_app as search_app
from services.search.settings import SearchSettings
from tests.integration.apps import ensure_topics, eventually, serving
from tests.tokens import TokenMinter

pytestmark = pytest.mark.integration
SUBJECTS = [
    "product.changed",
    "product.deleted",
    "product.price_changed",
    "product.category_changed",
    "inventory.stock_changed",
    "inventory.low_stock",
    "inventory.stock_reserved",
    "order.placed",
]


class Catalogue:
    def __init__(
        self, product: httpx.AsyncClient, inventory: httpx.AsyncClient, search: httpx.AsyncClient
    ) -> None:
        self.product = product
        self.inventory = inventory
        self.search = search


@pytest.fixture
async def catalogue(
    stack_env: dict[str, str], minter: TokenMinter, tmp_path: Path
) -> AsyncIterator[Catalogue]:
    await ensure_topics(stack_env["KOMMERCE_KAFKA_BOOTSTRAP"], SUBJECTS)
    tag = uuid.uuid4().hex[:8]
    auth = minter.authenticator()
    product = product_app(
        ProductSettings(
            environment="test",
            schema_name=f"catalog_f{tag}",
            co_occurrence_enabled=False,
            image_dir=tmp_path,
        ),
        auth=auth,
    )
    inventory = inventory_app(
        InventorySettings(
            environment="test", schema_name=f"inventory_f{tag}", consumer_group=f"inv-f{tag}"
        ),
        auth=auth,
    )
    search = search_app(SearchSettings(environment="test", schema_name=f"search_f{tag}"), auth=auth)
    async with (
        serving(product, base_url="http://product.test") as p,
        serving(inventory, base_url="http://inventory.test") as i,
        serving(search, base_url="http://search.test") as s,
    ):
        yield Catalogue(p, i, s)


async def test_a_new_product_is_found_in_stock_within_seconds(
    catalogue: Catalogue, minter: TokenMinter
) -> None:
    merchant = minter.bearer(roles=["merchant"])
    word = f"zephyrine{uuid.uuid4().hex[:6]}"  # a word no other test's product has
    started = time.monotonic()
    r = await catalogue.product.post(
        "/v1/products",
        headers=merchant,
        json={
            "slug": f"{word}-jacket",
            "name": f"{word.capitalize()} Rain Jacket",
            "description": "A light jacket for wet city days.",
            "status": "active",
            "brand": "Northwind",
            "category": ["Clothing", "Outerwear"],
            "variants": [
                {
                    "sku": f"{word}-M".upper(),
                    "name": "M",
                    "attributes": {"size": "M"},
                    "price": {"amount": 12900, "currency": "EUR"},
                }
            ],
        },
    )
    assert r.status_code == 201, r.text
    product: dict[str, Any] = r.json()
    variant_id = product["variants"][0]["id"]

    async def found() -> dict[str, Any] | None:
        # until it is indexed, typo tolerance may offer other products for the unknown word
        r = await catalogue.search.get("/v1/search", params={"q": word})
        body = r.json()
        ours = [h for h in body["hits"] if h["product_id"] == product["id"]]
        return ours[0] if ours and body["matched_by"] == "fulltext" else None

    hit = await eventually(found, seconds=30, what="the new product in search")
    searchable_after = time.monotonic() - started
    assert hit["in_stock"] is False
    assert hit["price"]["min"] == 12900

    # inventory learned the variant from product.changed; stock arrives in a warehouse
    r = await catalogue.inventory.post(
        "/v1/warehouses",
        headers=merchant,
        json={
            "code": f"w{word[-6:]}",
            "name": "Berlin",
            "location": {"latitude": 52.52, "longitude": 13.405},
            "country": "DE",
        },
    )
    assert r.status_code == 201, r.text

    async def learned() -> bool:
        r = await catalogue.inventory.get(f"/v1/stock/{variant_id}", headers=merchant)
        return r.status_code == 200 and r.json().get("sku") == f"{word}-M".upper()

    await eventually(learned, seconds=30, what="inventory to learn the variant")
    received = time.monotonic()
    r = await catalogue.inventory.post(
        "/v1/stock/adjustments",
        headers=merchant,
        json={
            "variant_id": variant_id,
            "warehouse_code": f"w{word[-6:]}",
            "delta": 12,
            "reason": "received",
        },
    )
    assert r.status_code == 200, r.text

    async def in_stock() -> bool:
        r = await catalogue.search.get("/v1/search", params={"q": word, "in_stock": "true"})
        return [h["product_id"] for h in r.json()["hits"]] == [product["id"]]

    await eventually(in_stock, seconds=30, what="search to see the stock")
    stocked_after = time.monotonic() - received
    print(f"searchable after {searchable_after:.2f} s; in stock after {stocked_after:.2f} s")
