"""The catalog projection: product events, Avro-encoded as the product service publishes them,
through the order service's own dispatcher into `catalog_variants`; older versions change
nothing, whatever order they come in."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from kommerce.events.consumer import ConsumedMessage
from kommerce.events.emitter import registry
from kommerce.events.message import headers_dict
from kommerce.events.serde import encode
from services.order.app import subscriptions
from services.order.consumers import Dispatcher
from services.order.tables import CATALOG_VARIANTS as CV
from tests.integration.order_cart.conftest import Shop

pytestmark = pytest.mark.integration


class Catalog:
    def __init__(self, shop: Shop) -> None:
        self.shop = shop
        self.dispatch = Dispatcher(subscriptions(shop.ctx))
        self.offset = 0

    async def send(self, event_type: str, payload: dict[str, Any]) -> None:
        encoded = encode(registry(), event_type, payload, producer="product")
        self.offset += 1
        message = ConsumedMessage(
            topic=encoded.topic,
            partition=0,
            offset=self.offset,
            key=encoded.key,
            value=encoded.value,
            headers=headers_dict(encoded.headers),
            event_id=str(uuid.uuid4()),
            timestamp=datetime.now(UTC),
        )
        async with self.shop.ctx.db.session() as session:
            await self.dispatch(message, session)

    async def changed(
        self, product_id: str, version: int, variants: list[dict[str, Any]], status: str = "active"
    ) -> None:
        await self.send(
            "product.changed",
            {
                "product_id": product_id,
                "version": version,
                "change": "updated",
                "slug": "kettle",
                "name": "Kettle",
                "status": status,
                "variants": variants,
                "changed_at": datetime.now(UTC),
            },
        )

    async def deleted(self, product_id: str, version: int, variant_ids: list[str]) -> None:
        await self.send(
            "product.deleted",
            {
                "product_id": product_id,
                "version": version,
                "variant_ids": variant_ids,
                "deleted_at": datetime.now(UTC),
            },
        )

    async def rows(self, product_id: str) -> dict[str, dict[str, Any]]:
        async with self.shop.ctx.db.session() as session:
            result = await session.execute(
                select(CV).where(CV.c.product_id == uuid.UUID(product_id))
            )
            return {str(r["variant_id"]): dict(r) for r in result.mappings()}


def variant(vid: str, price: int, name: str = "") -> dict[str, Any]:
    return {
        "variant_id": vid,
        "sku": f"K-{vid[:6]}",
        "name": name,
        "price_amount": price,
        "currency": "EUR",
    }


async def test_the_dispatcher_routes_product_topics_to_the_projection(shop: Shop) -> None:
    topics = Dispatcher(subscriptions(shop.ctx)).topics
    assert {"product.changed.v1", "product.deleted.v1"} <= set(topics)


async def test_newer_versions_win_and_older_ones_are_ignored(shop: Shop) -> None:
    catalog = Catalog(shop)
    p, a, b = (str(uuid.uuid4()) for _ in range(3))
    await catalog.changed(p, 2, [variant(a, 1500, "Steel"), variant(b, 1700, "Copper")])
    await catalog.changed(p, 1, [variant(a, 999)], status="draft")  # late, older: ignored
    rows = await catalog.rows(p)
    assert rows[a]["price_minor"] == 1500
    assert rows[a]["name"] == "Kettle — Steel"
    assert rows[a]["sellable"] is True
    assert rows[b]["sellable"] is True
    assert rows[a]["product_version"] == 2

    await catalog.changed(p, 3, [variant(a, 1600, "Steel")])  # b dropped from the product
    rows = await catalog.rows(p)
    assert (rows[a]["price_minor"], rows[a]["sellable"]) == (1600, True)
    assert rows[b]["sellable"] is False

    await catalog.changed(p, 4, [variant(a, 1600, "Steel")], status="archived")
    assert (await catalog.rows(p))[a]["sellable"] is False

    await catalog.deleted(p, 5, [a, b])
    await catalog.changed(p, 4, [variant(a, 1600, "Steel")])  # replayed, older than the delete
    rows = await catalog.rows(p)
    assert rows[a]["sellable"] is False
    assert rows[a]["product_version"] == 5


async def test_a_delete_seen_first_keeps_the_older_change_out(shop: Shop) -> None:
    catalog = Catalog(shop)
    p, a = str(uuid.uuid4()), str(uuid.uuid4())
    await catalog.deleted(p, 3, [a])
    await catalog.changed(p, 2, [variant(a, 1000)])
    rows = await catalog.rows(p)
    assert rows[a]["sellable"] is False
    assert rows[a]["product_version"] == 3
    r = await shop.add(a)
    assert r.status_code == 422
    assert r.json()["type"].endswith("/not-sellable")
