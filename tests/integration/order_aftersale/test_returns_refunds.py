"""Returns and refunds through the refund saga, with the participants answering on Kafka."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from kommerce.events.saga import SAGAS
from services.order.tables import ORDER_HISTORY, ORDERS, REFUNDS, RETURNS
from tests.integration.apps import eventually
from tests.integration.order_aftersale.conftest import Running

pytestmark = pytest.mark.integration


async def refund_rows(svc: Running, order_id: str) -> list[dict[str, Any]]:
    async with svc.ctx.db.session() as s:
        rows = await s.execute(
            select(REFUNDS)
            .where(REFUNDS.c.order_id == uuid.UUID(order_id))
            .order_by(REFUNDS.c.created_at)
        )
        return [dict(r) for r in rows.mappings()]


async def settled(svc: Running, order_id: str, count: int = 1) -> list[dict[str, Any]]:
    async def check() -> list[dict[str, Any]] | None:
        rows = await refund_rows(svc, order_id)
        done = [r for r in rows if r["status"] != "pending"]
        return rows if len(done) >= count else None

    found: list[dict[str, Any]] = await eventually(check, what="the refund saga finishes")
    return found


async def refunded_minor(svc: Running, order_id: str) -> int:
    async with svc.ctx.db.session() as s:
        return int(
            (
                await s.execute(
                    select(ORDERS.c.refunded_minor).where(ORDERS.c.id == uuid.UUID(order_id))
                )
            ).scalar_one()
        )


async def test_return_receive_restocks_and_refunds(svc: Running) -> None:
    order = await svc.delivered_order(real=True)
    p = svc.participants
    oid, headers = order["id"], order["headers"]
    path = f"/v1/orders/{oid}/returns"
    r = await svc.client.post(
        path, json={"reason": "too big", "lines": [{"line_no": 1, "quantity": 3}]}, headers=headers
    )
    assert r.status_code == 409, r.text
    assert r.json()["type"].endswith("/return-exceeds-bought")
    assert r.json()["returnable"] == 2
    r = await svc.client.post(
        path, json={"reason": "too big", "lines": [{"line_no": 9, "quantity": 1}]}, headers=headers
    )
    assert r.status_code == 422, r.text
    r = await svc.client.post(
        path,
        json={"reason": "too big", "lines": [{"line_no": 1, "quantity": 1, "reason": "size"}]},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    ret = r.json()
    assert ret["status"] == "requested"
    assert await svc.status(oid) == "return_requested"
    r = await svc.client.post(f"/v1/returns/{ret['id']}/approve", headers=headers)
    assert r.status_code == 403  # customers do not approve their own returns
    r = await svc.client.post(f"/v1/returns/{ret['id']}/approve", headers=svc.merchant)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved"
    before = await p.on_hand(order["variants"][0])
    r = await svc.client.post(
        f"/v1/returns/{ret['id']}/receive", json={"note": "box opened, fine"}, headers=svc.merchant
    )
    assert r.status_code == 202, r.text
    # line 1: 2 x 1000, discount 200, tax 342 -> one unit is 1000 - 100 + 171
    assert r.json()["refund_minor"] == 1071
    [refund] = await settled(svc, oid)
    assert refund["status"] == "succeeded", refund
    assert await svc.status(oid) == "refunded"
    assert await refunded_minor(svc, oid) == 1071
    # inventory has the unit back, the payment provider refunded exactly that
    assert await p.on_hand(order["variants"][0]) == before + 1
    payment = await p.payment(oid)
    assert payment["refunded_minor"] == 1071
    assert refund["provider_refund_id"] in {x["provider_refund_id"] for x in payment["refunds"]}
    [notice] = await svc.emitted("order.refunded", oid)
    assert notice["amount_minor"] == 1071
    assert notice["full"] is False
    assert notice["refund_id"] == str(refund["id"])
    assert notice["credit_note_number"].startswith("CN-")  # issued with the refund
    r = await svc.client.get(f"/v1/returns/{ret['id']}", headers=headers)
    assert r.json()["status"] == "refunded"


async def test_refund_saga_failure_compensates(svc: Running) -> None:
    order = await svc.delivered_order(real=True)
    p = svc.participants
    oid = order["id"]
    # the authorization was voided behind the order's back: the refund cannot go through
    await p.saga.command(
        "payment", "void_authorization", {"order_id": oid, "payment_id": order["payment_id"]}
    )
    r = await svc.client.post(
        f"/v1/orders/{oid}/returns",
        json={"reason": "broken", "lines": [{"line_no": 2, "quantity": 1}]},
        headers=order["headers"],
    )
    assert r.status_code == 201, r.text
    ret = r.json()
    before = await p.on_hand(order["variants"][1])
    r = await svc.client.post(f"/v1/returns/{ret['id']}/receive", headers=svc.merchant)
    assert r.status_code == 202, r.text
    [refund] = await settled(svc, oid)
    assert refund["status"] == "failed"
    assert "payment-voided" in refund["reason"]
    # the restock was undone (unrestock_items), the order waits for staff
    assert await p.on_hand(order["variants"][1]) == before
    assert await svc.status(oid) == "returned"
    assert await refunded_minor(svc, oid) == 0
    r = await svc.client.get(f"/v1/returns/{ret['id']}", headers=svc.support)
    assert r.json()["status"] == "refund_failed"


async def test_return_window_and_rejection(svc: Running) -> None:
    order = await svc.delivered_order()
    oid = order["id"]
    body = {"reason": "no longer needed", "lines": [{"line_no": 2, "quantity": 1}]}
    r = await svc.client.post(f"/v1/orders/{oid}/returns", json=body, headers=order["headers"])
    assert r.status_code == 201, r.text
    r = await svc.client.post(
        f"/v1/returns/{r.json()['id']}/reject", json={"note": "worn"}, headers=svc.merchant
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "rejected"
    assert await svc.status(oid) == "delivered"
    # delivered 31 days ago: the 30-day window has closed (the rejection does not reopen it)
    async with svc.ctx.db.session() as s:
        await s.execute(
            update(ORDER_HISTORY)
            .where(ORDER_HISTORY.c.order_id == uuid.UUID(oid))
            .values(at=ORDER_HISTORY.c.at - timedelta(days=31))
        )
    r = await svc.client.post(f"/v1/orders/{oid}/returns", json=body, headers=order["headers"])
    assert r.status_code == 409, r.text
    assert r.json()["type"].endswith("/return-window-closed")
    # not delivered yet: the state machine refuses
    shipped = await svc.shipped_order()
    r = await svc.client.post(
        f"/v1/orders/{shipped['id']}/returns", json=body, headers=shipped["headers"]
    )
    assert r.status_code == 409
    assert r.json()["type"].endswith("/illegal-transition")


async def test_partial_refund_without_return(svc: Running) -> None:
    order = await svc.delivered_order(real=True)
    oid, total = order["id"], order["total_minor"]
    path = f"/v1/orders/{oid}/refunds"
    r = await svc.client.post(
        path, json={"amount_minor": 500, "reason": "late"}, headers=order["headers"]
    )
    assert r.status_code == 403  # orders:refund is staff only
    r = await svc.client.post(
        path, json={"amount_minor": 500, "reason": "arrived late"}, headers=svc.support
    )
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "pending"
    # the pending refund counts already: more than what is left is refused
    r = await svc.client.post(
        path, json={"amount_minor": total - 499, "reason": "too much"}, headers=svc.support
    )
    assert r.status_code == 409, r.text
    assert r.json()["type"].endswith("/refund-exceeds-paid")
    assert r.json()["refundable_minor"] == total - 500
    [first] = await settled(svc, oid)
    assert first["status"] == "succeeded"
    assert await svc.status(oid) == "delivered"  # a partial refund keeps the status
    assert await refunded_minor(svc, oid) == 500
    r = await svc.client.post(
        path, json={"amount_minor": total - 500, "reason": "the rest"}, headers=svc.support
    )
    assert r.status_code == 202, r.text
    rows = await settled(svc, oid, count=2)
    assert [x["status"] for x in rows] == ["succeeded", "succeeded"]
    assert await refunded_minor(svc, oid) == total
    assert (await svc.participants.payment(oid))["refunded_minor"] == total
    notices = await svc.emitted("order.refunded", oid)
    assert [(n["amount_minor"], n["full"]) for n in notices] == [(500, False), (total - 500, True)]
    assert len({n["credit_note_number"] for n in notices}) == 2
    r = await svc.client.post(
        path, json={"amount_minor": 1, "reason": "one more"}, headers=svc.support
    )
    assert r.status_code == 409
    r = await svc.client.get(path, headers=order["headers"])
    assert [x["amount_minor"] for x in r.json()] == [500, total - 500]


async def test_overdue_refund_steps_time_out(svc: Running) -> None:
    """The timeout job gives up a step after its retries, per shape: a direct refund stuck at
    refund_payment (step 0) and a return's refund stuck at refund_payment (step 1, so
    restock_items is undone with unrestock_items at the real inventory)."""
    order = await svc.delivered_order()
    oid = uuid.UUID(order["id"])
    past = datetime.now(UTC) - timedelta(minutes=5)
    direct_refund, return_refund, return_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    sagas = {direct_refund: uuid.uuid4(), return_refund: uuid.uuid4()}
    base = {
        "order_id": str(oid),
        "payment_id": "pi_test_never_answered",
        "amount_minor": 100,
        "currency": "EUR",
    }
    async with svc.ctx.db.session() as s:
        await s.execute(
            insert(RETURNS).values(
                id=return_id, order_id=oid, status="received", reason="test", requested_by="x"
            )
        )
        for refund_id, kind, step, ret in (
            (direct_refund, "direct", 0, None),
            (return_refund, "return", 1, return_id),
        ):
            await s.execute(
                insert(REFUNDS).values(
                    id=refund_id,
                    order_id=oid,
                    return_id=ret,
                    amount_minor=100,
                    currency="EUR",
                    status="pending",
                    requested_by="x",
                    saga_id=sagas[refund_id],
                )
            )
            data = base | {"kind": kind, "refund_id": str(refund_id)}
            if ret:
                data |= {"return_id": str(ret), "lines": []}
            await s.execute(
                insert(SAGAS).values(
                    id=sagas[refund_id],
                    type="refund",
                    status="running",
                    phase="forward",
                    step=step,
                    attempt=svc.ctx.settings.step_retries + 1,  # the retries are used up
                    data=data,
                    deadline=past,
                )
            )

    async def both_failed() -> list[dict[str, Any]] | None:
        rows = [r for r in await refund_rows(svc, order["id"]) if r["id"] in sagas]
        return rows if all(r["status"] == "failed" for r in rows) else None

    rows = await eventually(both_failed, what="the timeout job fails both refunds")
    assert all("timed out" in r["reason"] for r in rows)
    async with svc.ctx.db.session() as s:
        steps = dict(
            (
                await s.execute(
                    select(SAGAS.c.id, SAGAS.c.status).where(SAGAS.c.id.in_(sagas.values()))
                )
            ).all()
        )
    assert set(steps.values()) == {"compensated"}
    r = await svc.client.get(f"/v1/returns/{return_id}", headers=svc.support)
    assert r.json()["status"] == "refund_failed"
