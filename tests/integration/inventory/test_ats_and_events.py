"""Available-to-sell in Redis kept in sync through inventory.stock_changed (outbox → relay →
Kafka → the service's own consumer), PostgreSQL after a Redis flush; variants learned from
product events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import text

from kommerce.events.schemas import Registry
from kommerce.events.serde import decode, encode
from services.inventory.ats import ats_key
from tests.integration.inventory.conftest import BERLIN, Running, eventually, new_variant

pytestmark = pytest.mark.integration
REGISTRY = Registry.load()


async def test_cache_follows_the_event(inv: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    code = await inv.warehouse(BERLIN)
    variant = new_variant()
    redis = inv.ctx.redis
    await inv.adjust(variant, code, 8)
    assert (await redis.hgetall(ats_key(variant)))["available"] == "8"  # write-through

    async def no_write_through(entries: Any) -> None:
        return None

    # Without the write-through only the consumed stock_changed event can update the cache.
    monkeypatch.setattr(inv.ctx.ats, "write_through", no_write_through)
    assert (await inv.reserve([(variant, 3)])).status_code == 201

    async def cached_five() -> bool:
        return (await redis.hget(ats_key(variant), "available")) == "5"

    await eventually(cached_five, seconds=30, what="ATS updated by inventory.stock_changed")
    r = await inv.client.get(f"/v1/availability/{variant}")
    assert (r.json()["available"], r.json()["source"]) == (5, "cache")


async def consumed_everything_about(inv: Running, variant: str) -> bool:
    """Whether the service's consumer applied every stock_changed event of the variant."""
    async with inv.ctx.db.session() as session:
        pending = (
            await session.execute(
                text(
                    "SELECT count(*) FROM outbox o WHERE o.topic = 'inventory.stock_changed.v1' "
                    "AND o.key = :k AND NOT EXISTS (SELECT 1 FROM kommerce_inbox i "
                    "WHERE i.event_id = o.event_id::text AND i.consumer = :c)"
                ),
                {"k": variant.encode(), "c": inv.ctx.settings.consumer_group},
            )
        ).scalar_one()
    return int(pending) == 0


async def test_reads_fall_back_to_postgres_after_a_flush(inv: Running) -> None:
    code = await inv.warehouse(BERLIN)
    variant, unknown = new_variant(), new_variant()
    await inv.adjust(variant, code, 12)
    await inv.reserve([(variant, 2)])

    async def settled() -> bool:
        return await consumed_everything_about(inv, variant)

    # otherwise a late event could fill the entry again between the flush and the read
    await eventually(settled, seconds=30, what="stock_changed events consumed")
    await inv.ctx.redis.flushdb()
    r = await inv.client.get(f"/v1/availability/{variant}")
    assert (r.json()["available"], r.json()["source"]) == (10, "database")
    r = await inv.client.get("/v1/availability", params={"variant_id": [variant, unknown]})
    assert [(a["variant_id"], a["available"], a["source"]) for a in r.json()] == [
        (variant, 10, "cache"),  # filled by the read before
        (unknown, 0, "database"),
    ]
    # an older version never overwrites a newer one
    version = int(await inv.ctx.redis.hget(ats_key(variant), "version") or 0)
    assert await inv.ctx.ats.put(variant, 999, version - 1) is False
    assert (await inv.ctx.ats.get_many([uuid.UUID(variant)]))[0].available == 10


async def test_stock_changed_reaches_kafka(inv: Running, stack_env: dict[str, str]) -> None:
    code = await inv.warehouse(BERLIN)
    variant = new_variant()
    consumer = AIOKafkaConsumer(
        "inventory.stock_changed.v1",
        bootstrap_servers=stack_env["KOMMERCE_KAFKA_BOOTSTRAP"],
        group_id=f"it-inventory-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="latest",
    )
    await consumer.start()
    try:
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=100)
        await inv.adjust(variant, code, 6)
        await inv.reserve([(variant, 2)])
        seen: list[dict[str, Any]] = []

        async def both() -> bool:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    if record.key == variant.encode():
                        event = decode(
                            REGISTRY,
                            key=record.key,
                            value=record.value,
                            headers={k: v.decode() for k, v in record.headers},
                        )
                        seen.append(event.payload)
            return len(seen) >= 2

        await eventually(both, seconds=30, what="two stock_changed events")
    finally:
        await consumer.stop()
    assert [
        (e["version"], e["available"], e["on_hand"], e["reserved"], e["reason"]) for e in seen
    ] == [
        (1, 6, 6, 0, "received"),
        (2, 4, 6, 2, "reserved"),
    ]
    assert seen[1]["warehouses"] == [
        {"warehouse_code": code, "available": 4, "on_hand": 6, "reserved": 2}
    ]


async def _publish(stack_env: dict[str, str], subject: str, payload: dict[str, Any]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=stack_env["KOMMERCE_KAFKA_BOOTSTRAP"])
    await producer.start()
    try:
        message = encode(REGISTRY, subject, payload, producer="product")
        await producer.send_and_wait(
            message.topic, message.value, key=message.key, headers=list(message.headers)
        )
    finally:
        await producer.stop()


async def test_variants_learned_from_product_events(
    inv: Running, stack_env: dict[str, str]
) -> None:
    code = await inv.warehouse(BERLIN)
    product, variant = str(uuid.uuid4()), new_variant()
    await inv.adjust(variant, code, 5)
    changed = {
        "product_id": product,
        "version": 2,
        "change": "updated",
        "slug": f"p-{product[:8]}",
        "name": "Oxford Shirt",
        "status": "active",
        "variants": [
            {"variant_id": variant, "sku": "OX-M-BLU", "price_amount": 3999, "currency": "EUR"}
        ],
        "changed_at": datetime.now(UTC),
    }
    await _publish(stack_env, "product.changed", changed)

    async def learned() -> bool:
        return (await inv.stock(variant))["sku"] == "OX-M-BLU"

    await eventually(learned, seconds=30, what="variant learned from product.changed")
    # an older version of the product does not overwrite it
    await _publish(
        stack_env,
        "product.changed",
        {
            **changed,
            "version": 1,
            "variants": [
                {"variant_id": variant, "sku": "OLD", "price_amount": 1, "currency": "EUR"}
            ],
        },
    )
    await _publish(
        stack_env,
        "product.deleted",
        {
            "product_id": product,
            "version": 3,
            "variant_ids": [variant],
            "deleted_at": datetime.now(UTC),
        },
    )

    async def deleted() -> bool:
        async with inv.ctx.db.session() as session:
            row = (
                await session.execute(
                    text("SELECT sku, deleted FROM variants WHERE variant_id = :v"), {"v": variant}
                )
            ).one()
        return bool(row.deleted) and row.sku == "OX-M-BLU"

    await eventually(deleted, seconds=30, what="variant deleted by product.deleted")
    r = await inv.reserve([(variant, 1)])
    assert r.status_code == 409
    assert r.json()["available"] == 0
