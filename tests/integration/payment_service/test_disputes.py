"""Disputes: opened by webhook (payment disputed, refunds frozen, staff notified, deadline
recorded), then won (refunds allowed again) or lost."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from kommerce.events.emitter import registry
from kommerce.events.outbox import OUTBOX
from kommerce.events.serde import decode
from tests.integration.payment_service.harness import Payments, running
from tests.tokens import TokenMinter

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def pay(stack_env: dict[str, str], minter: TokenMinter) -> AsyncIterator[Payments]:
    async with running(minter, relay_enabled=False) as p:
        yield p


def dispute(payment: dict[str, Any], status: str, *, reference: str, due: int) -> dict[str, Any]:
    """A Dispute object as Stripe documents it."""
    return {
        "id": reference,
        "object": "dispute",
        "amount": payment["captured_minor"],
        "charge": f"ch_{uuid.uuid4().hex[:24]}",
        "currency": payment["currency"].lower(),
        "created": int(time.time()),
        "evidence_details": {
            "due_by": due,
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": payment["provider_reference"],
        "reason": "fraudulent",
        "status": status,
    }


async def captured(pay: Payments) -> dict[str, Any]:
    _, shopper = pay.shopper()
    payment = (await pay.create(shopper, amount_minor=5000, capture_method="automatic")).json()
    r = await pay.intent_event(payment, "payment_intent.succeeded", "succeeded")
    assert r.json()["outcome"] == "applied", r.text
    return await pay.get(payment["payment_id"])


async def test_dispute_freezes_refunds_until_won(pay: Payments) -> None:
    payment = await captured(pay)
    due = int(time.time()) + 7 * 86400
    ref = f"dp_{uuid.uuid4().hex[:24]}"
    r = await pay.webhook(
        "charge.dispute.created", dispute(payment, "needs_response", reference=ref, due=due)
    )
    assert r.json()["outcome"] == "applied", r.text
    assert (await pay.get(payment["payment_id"]))["status"] == "disputed"

    r = await pay.post(f"/v1/payments/{payment['payment_id']}/refunds", {"amount_minor": 100})
    assert r.status_code == 409, r.text
    assert r.json()["type"].endswith("/refunds-frozen"), r.text

    listed = (await pay.http.get("/v1/disputes", headers=pay.staff)).json()
    mine = next(d for d in listed if d["provider_reference"] == ref)
    assert mine["status"] == "open"
    assert datetime.fromisoformat(mine["evidence_due_by"]) == datetime.fromtimestamp(due, UTC)

    async with pay.db.session() as s:
        rows = (await s.execute(select(OUTBOX.c.key, OUTBOX.c.value, OUTBOX.c.headers))).all()
    events = [
        decode(registry(), key=r.key, value=r.value, headers={k: v for k, v in r.headers})
        for r in rows
    ]
    opened = [
        e
        for e in events
        if e.type == "payment.dispute_opened" and e.payload["payment_id"] == payment["payment_id"]
    ]
    assert len(opened) == 1
    assert opened[0].payload["reason"] == "fraudulent"

    r = await pay.post(f"/v1/disputes/{mine['dispute_id']}/evidence-submitted")
    assert r.status_code == 200
    assert r.json()["evidence_submitted_at"]

    r = await pay.webhook("charge.dispute.closed", dispute(payment, "won", reference=ref, due=due))
    assert r.json()["outcome"] == "applied", r.text
    assert (await pay.get(payment["payment_id"]))["status"] == "captured"
    r = await pay.post(f"/v1/payments/{payment['payment_id']}/refunds", {"amount_minor": 100})
    assert r.status_code == 201, r.text


async def test_lost_dispute_leaves_the_payment_disputed(pay: Payments) -> None:
    payment = await captured(pay)
    ref = f"dp_{uuid.uuid4().hex[:24]}"
    due = int(time.time()) + 86400
    await pay.webhook(
        "charge.dispute.created", dispute(payment, "needs_response", reference=ref, due=due)
    )
    r = await pay.webhook("charge.dispute.closed", dispute(payment, "lost", reference=ref, due=due))
    assert r.json()["outcome"] == "applied"
    assert (await pay.get(payment["payment_id"]))["status"] == "disputed"
    closed = (await pay.http.get("/v1/disputes?status=lost", headers=pay.staff)).json()
    assert ref in [d["provider_reference"] for d in closed]
