"""The index follows product and stock events from Kafka: searchable within seconds, stale and
duplicate events ignored, deletions and category moves applied."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.integration.search.conftest import Catalog, Running, indexed, search, variant

pytestmark = pytest.mark.integration


async def test_product_change_is_searchable_within_seconds(
    search_service: Running, client: httpx.AsyncClient
) -> None:
    cat = Catalog()
    doc = cat.product("Acme Oxford Shirt", description="A crisp cotton shirt")
    started = time.monotonic()
    await search_service.publish("product.changed", doc)
    body = await indexed(client, cat, 1, q="oxford")
    assert time.monotonic() - started < 10
    hit = body["hits"][0]
    assert hit["product_id"] == doc["product_id"]
    assert hit["price"] == {"min": 2999, "max": 2999}
    assert hit["category_path"] == ["Clothing", "Shirts"]

    renamed = {**doc, "version": 2, "change": "updated", "name": "Acme Linen Shirt"}
    await search_service.publish("product.changed", renamed)
    await indexed(client, cat, 1, q="linen")
    assert (await search(client, category=cat.root_id, q="oxford"))["total"] == 0


async def test_stale_and_duplicate_events_are_ignored(
    search_service: Running, client: httpx.AsyncClient
) -> None:
    cat = Catalog()
    doc = cat.product("Harbor Rain Jacket", version=3)
    await search_service.publish("product.changed", doc)
    await indexed(client, cat, 1, q="jacket")
    stale = {**doc, "version": 2, "name": "Harbor Wool Coat"}
    await search_service.publish("product.changed", stale)
    await search_service.publish("product.changed", doc)  # a duplicate
    marker = cat.product("Harbor Marker Product")  # events are applied in order per key only,
    await search_service.publish("product.changed", marker)  # so wait for a later one to land
    await indexed(client, cat, 2)
    await _wait_applied(search_service, doc["product_id"], 3)
    assert (await search(client, category=cat.root_id, q="coat"))["total"] == 0
    assert (await search(client, category=cat.root_id, q="jacket"))["total"] == 1


async def _wait_applied(service: Running, product_id: str, version: int) -> None:
    from tests.integration.search.conftest import eventually

    async def check() -> bool:
        async with service.ctx.db.session() as s:
            from sqlalchemy import text

            row = (
                await s.execute(
                    text("SELECT version FROM products WHERE product_id = :p"), {"p": product_id}
                )
            ).first()
        return row is not None and row.version >= version

    await eventually(check, what=f"version {version} of {product_id}")


async def test_deleted_product_disappears_and_stays_deleted(
    search_service: Running, client: httpx.AsyncClient
) -> None:
    cat = Catalog()
    doc = cat.product("Nimbus Trail Shoe")
    await search_service.publish("product.changed", doc)
    await indexed(client, cat, 1, q="trail")
    deleted: dict[str, Any] = {
        "product_id": doc["product_id"],
        "version": 2,
        "variant_ids": [v["variant_id"] for v in doc["variants"]],
        "deleted_at": doc["changed_at"],
    }
    await search_service.publish("product.deleted", deleted)
    await indexed(client, cat, 0, q="trail")
    # a late copy of an older change must not bring it back
    await search_service.publish("product.changed", doc)
    marker = cat.product("Nimbus Marker")
    await search_service.publish("product.changed", marker)
    await indexed(client, cat, 1)
    assert (await search(client, category=cat.root_id, q="trail"))["total"] == 0


async def test_stock_events_drive_the_in_stock_filter(
    search_service: Running, client: httpx.AsyncClient
) -> None:
    cat = Catalog()
    pid = "00000000-0000-4000-8000-" + cat.leaf_id[-12:]
    v1, v2 = variant(pid, price=1000), variant(pid, price=1500)
    doc = cat.product("Summit Backpack", product_id=pid, variants=[v1, v2])
    await search_service.publish("product.changed", doc)
    await indexed(client, cat, 1, in_stock="false")

    async def stock(v: dict[str, Any], available: int, at_ms: int) -> None:
        await search_service.publish(
            "inventory.stock_changed",
            {
                "variant_id": v["variant_id"],
                "product_id": pid,
                "sku": v["sku"],
                "available": available,
                "on_hand": available,
                "reserved": 0,
                "changed_at": at_ms,
            },
        )

    now = int(time.time() * 1000)
    await stock(v1, 0, now)
    await stock(v2, 4, now)
    body = await indexed(client, cat, 1, in_stock="true", facets="in_stock")
    assert body["facets"]["in_stock"] == [{"value": "true", "label": "true", "count": 1}]
    await stock(v2, 9, now - 60_000)  # stale: older than what is held
    await stock(v2, 0, now + 1)
    await indexed(client, cat, 1, in_stock="false")


async def test_category_move_rewrites_paths(
    search_service: Running, client: httpx.AsyncClient
) -> None:
    cat = Catalog()
    doc = cat.product("Polar Fleece")
    await search_service.publish("product.changed", doc)
    await indexed(client, cat, 1)
    new_root = Catalog().root_id
    await search_service.publish(
        "product.category_changed",
        {
            "category_id": cat.leaf_id,
            "change": "moved",
            "parent_id": new_root,
            "name": "Fleeces",
            "slug": "fleeces",
            "path_ids": [new_root, cat.leaf_id],
            "path_names": ["Outdoor", "Fleeces"],
            "changed_at": int(time.time() * 1000),
        },
    )
    moved = Catalog(root_id=new_root, leaf_id=cat.leaf_id)
    body = await indexed(client, moved, 1)
    assert body["hits"][0]["category_path"] == ["Outdoor", "Fleeces"]
    assert (await search(client, category=cat.root_id))["total"] == 0
