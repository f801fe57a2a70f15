"""Events travel outbox → in-process relay → Kafka with the right payloads; order.placed events
feed the co-occurrence table behind related products."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from kommerce.events.schemas import Registry
from kommerce.events.serde import Event, decode, encode
from tests.integration.product.conftest import create_product, unique

pytestmark = pytest.mark.integration
REGISTRY = Registry.load()


async def collect(
    bootstrap: str, subjects: list[str], want: Any, *, seconds: float = 30.0
) -> list[Event]:
    """Events of `subjects` (from the beginning) until `want(events)` holds."""
    topics = [REGISTRY.subject(s).topic for s in subjects]
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=f"product-test-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[Event] = []
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for r in records:
                    headers = {k: v.decode() for k, v in r.headers}
                    found.append(decode(REGISTRY, key=r.key, value=r.value, headers=headers))
            if want(found):
                return found
    finally:
        await consumer.stop()
    raise AssertionError(f"events not seen within {seconds} s: {[e.type for e in found]}")


async def test_product_lifecycle_events(
    client: httpx.AsyncClient, merchant: dict[str, str], stack_env: dict[str, str]
) -> None:
    product = await create_product(client, merchant, category=[unique("Events"), "Leaf"])
    pid = product["id"]
    variant = product["variants"][0]
    body = {"sku": variant["sku"], "price": {"amount": 4200, "currency": "EUR"}}
    r = await client.put(
        f"/v1/products/{pid}/variants/{variant['id']}", json=body, headers=merchant
    )
    assert r.status_code == 200
    assert (await client.delete(f"/v1/products/{pid}", headers=merchant)).status_code == 204

    def mine(events: list[Event]) -> list[Event]:
        return [e for e in events if e.payload.get("product_id") == pid]

    events = mine(
        await collect(
            stack_env["KOMMERCE_KAFKA_BOOTSTRAP"],
            ["product.changed", "product.price_changed", "product.deleted"],
            lambda found: any(e.type == "product.deleted" for e in mine(found)),
        )
    )
    changed = [e.payload for e in events if e.type == "product.changed"]
    assert [(c["version"], c["change"]) for c in changed] == [(1, "created"), (2, "updated")]
    assert changed[0]["slug"] == product["slug"]
    assert changed[0]["category_path"] == product["category"]["path_names"]
    assert changed[0]["category_ids"] == product["category"]["path_ids"]
    assert changed[0]["variants"][0]["price_amount"] == 3999
    assert changed[1]["variants"][0]["price_amount"] == 4200
    prices = [e.payload for e in events if e.type == "product.price_changed"]
    assert [(p["old_amount"], p["new_amount"]) for p in prices] == [(None, 3999), (3999, 4200)]
    deleted = next(e.payload for e in events if e.type == "product.deleted")
    assert deleted["version"] == 3
    assert deleted["variant_ids"] == [variant["id"]]
    assert all(e.producer == "product" for e in events)


async def test_category_move_emits_one_event_per_moved_category(
    client: httpx.AsyncClient, merchant: dict[str, str], stack_env: dict[str, str]
) -> None:
    ids: dict[str, str] = {}
    for name, parent in (("root", None), ("a", "root"), ("b", "root"), ("a1", "a"), ("a2", "a")):
        r = await client.post(
            "/v1/categories",
            json={"name": unique(name), "parent_id": ids.get(parent or "")},
            headers=merchant,
        )
        ids[name] = r.json()["id"]
    r = await client.post(
        f"/v1/categories/{ids['a']}/move", json={"parent_id": ids["b"]}, headers=merchant
    )
    assert r.status_code == 200
    moved_ids = {ids["a"], ids["a1"], ids["a2"]}

    def moves(events: list[Event]) -> list[Event]:
        return [e for e in events if e.payload["change"] == "moved"]

    events = await collect(
        stack_env["KOMMERCE_KAFKA_BOOTSTRAP"],
        ["product.category_changed"],
        lambda found: {e.payload["category_id"] for e in moves(found)} >= moved_ids,
    )
    moved = {e.payload["category_id"]: e.payload for e in moves(events)}
    assert set(moved) & set(ids.values()) == moved_ids
    assert moved[ids["a1"]]["path_ids"] == [ids["root"], ids["b"], ids["a"], ids["a1"]]
    assert moved[ids["a"]]["parent_id"] == ids["b"]
    assert len(moved[ids["a2"]]["path_names"]) == 4


async def test_related_products_from_category_and_orders(
    client: httpx.AsyncClient, merchant: dict[str, str], stack_env: dict[str, str]
) -> None:
    here = [unique("Related"), "Here"]
    target = await create_product(client, merchant, category=here)
    same_a = await create_product(client, merchant, category=here)
    same_b = await create_product(client, merchant, category=here)
    other = await create_product(client, merchant, category=[unique("Elsewhere")])
    unrelated = await create_product(client, merchant, category=[unique("Nowhere")])

    def line(product: dict[str, Any]) -> dict[str, Any]:
        return {"variant_id": product["variants"][0]["id"], "quantity": 1, "unit_price_minor": 1}

    orders = [[target, other], [target, other, same_b], [target, same_b], [same_a, unrelated]]
    producer = AIOKafkaProducer(bootstrap_servers=stack_env["KOMMERCE_KAFKA_BOOTSTRAP"])
    await producer.start()
    try:
        for products in orders:
            payload = {
                "order_id": str(uuid.uuid4()),
                "customer_id": str(uuid.uuid4()),
                "currency": "EUR",
                "total_minor": 3,
                "lines": [line(p) for p in products],
                "channel": "web",
            }
            message = encode(REGISTRY, "order.placed", payload, producer="order")
            await producer.send_and_wait(
                message.topic, message.value, key=message.key, headers=list(message.headers)
            )
    finally:
        await producer.stop()

    expected = [(same_b["id"], 2), (same_a["id"], 0), (other["id"], 2)]
    deadline = time.monotonic() + 60
    while True:
        r = await client.get(f"/v1/products/{target['id']}/related")
        assert r.status_code == 200
        got = r.json()
        ranked = [(p["id"], p["bought_together"]) for p in got]
        if ranked == expected or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert ranked == expected, got
    assert [p["same_category"] for p in got] == [True, True, False]
    assert (await client.get(f"/v1/products/{uuid.uuid4()}/related")).status_code == 404
