"""The customer read model: live from the events, and the same rows again after a replay."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from services.order import read_model
from services.order.settings import OrderSettings
from services.order.tables import CUSTOMER_ORDERS, ORDERS
from tests.integration.apps import eventually
from tests.integration.order_aftersale.conftest import Running

pytestmark = pytest.mark.integration


async def snapshot(svc: Running) -> dict[uuid.UUID, dict[str, Any]]:
    """The read model's rows for this session's orders (topics hold earlier sessions' too)."""
    async with svc.ctx.db.session() as s:
        mine = select(ORDERS.c.id)
        rows = await s.execute(select(CUSTOMER_ORDERS).where(CUSTOMER_ORDERS.c.order_id.in_(mine)))
        return {
            r["order_id"]: {k: v for k, v in r.items() if k != "updated_at"}
            for r in rows.mappings()
        }


async def test_my_orders_follow_events_and_rebuild_identically(
    svc: Running, order_settings: OrderSettings
) -> None:
    customer = uuid.uuid4()
    me = svc.shopper(customer)
    first = await svc.delivered_order(customer_id=customer, real=True)
    r = await svc.client.post(
        f"/v1/orders/{first['id']}/refunds",
        json={"amount_minor": 300, "reason": "goodwill"},
        headers=svc.support,
    )
    assert r.status_code == 202, r.text
    second = await svc.paid_order(customer_id=customer, lines=[(3, 700, 0, 399)], real=True)
    r = await svc.client.post(f"/v1/orders/{second['id']}/cancel", headers=me)
    assert r.status_code == 200, r.text
    await svc.paid_order()  # someone else's

    async def caught_up() -> list[dict[str, Any]] | None:
        r = await svc.client.get("/v1/me/orders", headers=me)
        assert r.status_code == 200, r.text
        found: list[dict[str, Any]] = r.json()["orders"]
        by_id = {o["order_id"]: o for o in found}
        a, b = by_id.get(first["id"]), by_id.get(second["id"])
        ok = (
            a is not None
            and b is not None
            and a["status"] == "delivered"
            and a["refunded_minor"] == 300
            and a["tracking"] is not None
            and b["status"] == "cancelled"
        )
        return found if ok else None

    mine = await eventually(caught_up, what="the read model follows the events")
    assert [o["order_id"] for o in mine] == [second["id"], first["id"]]  # newest first
    one = next(o for o in mine if o["order_id"] == first["id"])
    assert one["number"] == first["number"]
    assert one["item_count"] == 3
    assert [x["name"] for x in one["lines"]] == ["Thing 1", "Thing 2"]
    assert one["tracking"]["tracking_number"] == first["tracking_number"]
    assert one["estimated_delivery"] is not None
    # pages of one, newest first
    r = await svc.client.get("/v1/me/orders", params={"limit": 1}, headers=me)
    page = r.json()
    assert [o["order_id"] for o in page["orders"]] == [second["id"]]
    r = await svc.client.get(
        "/v1/me/orders", params={"limit": 1, "cursor": page["next_cursor"]}, headers=me
    )
    assert [o["order_id"] for o in r.json()["orders"]] == [first["id"]]
    assert r.json()["next_cursor"] is None
    r = await svc.client.get("/v1/me/orders", params={"cursor": "not-a-cursor"}, headers=me)
    assert r.status_code == 400

    async def all_applied() -> dict[uuid.UUID, dict[str, Any]] | None:
        async with svc.ctx.db.session() as s:
            cols = select(ORDERS.c.id, ORDERS.c.version, ORDERS.c.refunded_minor)
            expected = {i: (v, m) for i, v, m in (await s.execute(cols)).all()}
        rows = await snapshot(svc)
        done = {k: (r["version"], r["refunded_minor"]) for k, r in rows.items()} == expected
        return rows if done else None

    live = await eventually(all_applied, what="every order of the session in the read model")
    applied = await read_model.rebuild(order_settings, svc.ctx.db)
    assert applied > 0
    rebuilt = await snapshot(svc)
    assert rebuilt == live
    assert len(live) >= 3
