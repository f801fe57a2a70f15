"""upsert_by_slug is idempotent; every price change is kept and queryable by period."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from kommerce.events.outbox import OUTBOX
from services.product.catalog import upsert_by_slug
from services.product.documents import ProductIn
from services.product.tables import PRICE_HISTORY
from tests.integration.product.conftest import Running, product_doc

pytestmark = pytest.mark.integration


async def outbox_rows(service: Running) -> int:
    async with service.ctx.db.session() as session:
        count: int = (await session.execute(select(func.count()).select_from(OUTBOX))).scalar_one()
        return count


async def test_upsert_by_slug_is_idempotent(product_service: Running) -> None:
    doc = ProductIn.model_validate(product_doc())
    async with product_service.ctx.db.session() as session:
        first = await upsert_by_slug(session, doc, actor="import:test")
    assert first.created
    assert first.changed
    before = await outbox_rows(product_service)
    async with product_service.ctx.db.session() as session:
        again = await upsert_by_slug(session, doc, actor="import:test")
    assert again.product_id == first.product_id
    assert not again.created
    assert not again.changed
    assert await outbox_rows(product_service) == before  # no version, no event

    changed = doc.model_copy(update={"description": "Now with buttons"})
    async with product_service.ctx.db.session() as session:
        third = await upsert_by_slug(session, changed, actor="import:test")
    assert third.changed
    assert not third.created
    r = await product_service.client.get(f"/v1/products/{first.product_id}")
    assert r.json()["version"] == 2


async def test_upsert_over_http(client: httpx.AsyncClient, merchant: dict[str, str]) -> None:
    doc = product_doc()
    url = f"/v1/products/by-slug/{doc['slug']}"
    r = await client.put(url, json=doc, headers=merchant)
    assert r.status_code == 201
    assert r.json()["created"]
    r = await client.put(url, json=doc, headers=merchant)
    assert r.status_code == 200
    assert r.json() == {**r.json(), "created": False, "changed": False}
    r = await client.put(url, json={**doc, "slug": "another-slug"}, headers=merchant)
    assert r.status_code == 409


async def test_price_history_by_period(
    product_service: Running, client: httpx.AsyncClient, merchant: dict[str, str]
) -> None:
    doc = product_doc()
    r = await client.post("/v1/products", json=doc, headers=merchant)
    product = r.json()
    variant = product["variants"][0]
    base = f"/v1/products/{product['id']}/variants/{variant['id']}"
    for amount in (4500, 4999):
        body = {**doc["variants"][0], "price": {"amount": amount, "currency": "EUR"}}
        assert (await client.put(base, json=body, headers=merchant)).status_code == 200
    r = await client.get(f"{base}/prices")
    history = r.json()
    assert [p["price"]["amount"] for p in history] == [3999, 4500, 4999]
    assert history[0]["valid_to"] == history[1]["valid_from"]
    assert history[-1]["valid_to"] is None
    assert history[0]["changed_by"].startswith("user:")

    # Pin the periods to known times to query by period.
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    async with product_service.ctx.db.session() as session:
        rows = (
            (
                await session.execute(
                    select(PRICE_HISTORY.c.id)
                    .where(PRICE_HISTORY.c.variant_id == uuid.UUID(variant["id"]))
                    .order_by(PRICE_HISTORY.c.id)
                )
            )
            .scalars()
            .all()
        )
        bounds = [t0, t0 + timedelta(days=10), t0 + timedelta(days=20), None]
        for i, row_id in enumerate(rows):
            await session.execute(
                PRICE_HISTORY.update()
                .where(PRICE_HISTORY.c.id == row_id)
                .values(valid_from=bounds[i], valid_to=bounds[i + 1])
            )

    async def amounts(start: str | None, end: str | None) -> list[int]:
        params = {k: v for k, v in (("from", start), ("to", end)) if v}
        r = await client.get(f"{base}/prices", params=params)
        assert r.status_code == 200, r.text
        return [p["price"]["amount"] for p in r.json()]

    assert await amounts("2026-01-02T00:00:00Z", "2026-01-05T00:00:00Z") == [3999]
    assert await amounts("2026-01-05T00:00:00Z", "2026-01-15T00:00:00Z") == [3999, 4500]
    assert await amounts("2026-01-25T00:00:00Z", None) == [4999]
    assert await amounts(None, "2026-01-01T00:00:00Z") == []
    r = await client.get(f"{base}/prices", params={"from": "2026-01-01T00:00:00"})
    assert r.status_code == 422  # no time zone
    r = await client.get(f"/v1/products/{product['id']}/variants/{uuid.uuid4()}/prices")
    assert r.status_code == 404


async def test_concurrent_upserts_of_one_new_slug(product_service: Running) -> None:
    doc = ProductIn.model_validate(
        product_doc(category=[f"Concurrent-{uuid.uuid4().hex[:6]}", "X"])
    )

    async def upsert() -> Any:
        async with product_service.ctx.db.session() as session:
            return await upsert_by_slug(session, doc, actor="import:test")

    results = await asyncio.gather(*(upsert() for _ in range(4)))
    assert len({r.product_id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert sum(r.changed for r in results) == 1
