"""Stripe webhooks through the endpoint: verification, replays, 1,000 concurrent duplicates,
events out of order, and events for payments we do not know."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from kommerce.events.outbox import OUTBOX
from services.payment.providers.stripe_events import stripe_event
from services.payment.tables import PAYMENT_HISTORY
from tests.integration.payment_service.harness import Payments, payment_intent, running
from tests.tokens import TokenMinter

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def pay(stack_env: dict[str, str], minter: TokenMinter) -> AsyncIterator[Payments]:
    async with running(minter, pool_size=10) as p:
        yield p


async def pending(pay: Payments) -> dict[str, object]:
    _, shopper = pay.shopper()
    r = await pay.create(shopper)
    assert r.status_code == 201, r.text
    body: dict[str, object] = r.json()
    return body


def authorized_event(payment: dict[str, object], event_id: str | None = None) -> bytes:
    obj = payment_intent(
        str(payment["provider_reference"]),
        amount=int(str(payment["amount_minor"])),
        currency=str(payment["currency"]),
        status="requires_capture",
    )
    return json.dumps(
        stripe_event("payment_intent.amount_capturable_updated", obj, event_id=event_id)
    ).encode()


async def test_valid_signature_is_applied(pay: Payments) -> None:
    payment = await pending(pay)
    r = await pay.webhook("", {}, raw=authorized_event(payment))
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "applied", r.text


@pytest.mark.parametrize(
    ("secret", "age", "what"),
    [
        ("whsec_someone_else", 0, "wrong secret"),
        ("whsec_kommerce_local", 3600, "old timestamp"),
    ],
)
async def test_unverifiable_deliveries_are_rejected(
    pay: Payments, secret: str, age: int, what: str
) -> None:
    payment = await pending(pay)
    r = await pay.webhook(
        "", {}, raw=authorized_event(payment), secret=secret, timestamp=int(time.time()) - age
    )
    assert r.status_code == 400, what
    assert r.json()["type"].endswith("/invalid-webhook")
    assert (await pay.get(str(payment["payment_id"])))["status"] == "pending"


async def test_tampered_and_unsigned_deliveries_are_rejected(pay: Payments) -> None:
    payment = await pending(pay)
    body = authorized_event(payment)
    signed = await pay.webhook("", {}, raw=body)  # a first, valid delivery
    assert signed.status_code == 200
    other = await pending(pay)
    forged = body.replace(
        str(payment["provider_reference"]).encode(), str(other["provider_reference"]).encode()
    )
    from services.payment.providers.stripe_events import sign_stripe_event

    header = sign_stripe_event(body, "whsec_kommerce_local")  # the signature of the original
    r = await pay.http.post(
        "/v1/webhooks/stripe", content=forged, headers={"Stripe-Signature": header}
    )
    assert r.status_code == 400
    r = await pay.http.post("/v1/webhooks/stripe", content=body)
    assert r.status_code == 400
    assert (await pay.get(str(other["payment_id"])))["status"] == "pending"


async def test_a_replayed_event_has_no_second_effect(pay: Payments) -> None:
    payment = await pending(pay)
    body = authorized_event(payment, event_id="evt_replayed_once_" + str(payment["payment_id"]))
    first = await pay.webhook("", {}, raw=body)
    again = await pay.webhook("", {}, raw=body)  # re-signed now: a replay within tolerance
    assert (first.json()["outcome"], again.json()["outcome"]) == ("applied", "duplicate")


async def test_a_thousand_concurrent_duplicates_make_one_state_change(pay: Payments) -> None:
    payment = await pending(pay)
    body = authorized_event(payment)
    async with pay.db.session() as s:
        before = (await s.execute(select(func.count()).select_from(OUTBOX))).scalar_one()
    responses = await asyncio.gather(*(pay.webhook("", {}, raw=body) for _ in range(1000)))
    outcomes = [r.json()["outcome"] for r in responses]
    assert {r.status_code for r in responses} == {200}
    assert outcomes.count("applied") == 1
    assert outcomes.count("duplicate") == 999
    async with pay.db.session() as s:
        moves = (
            (
                await s.execute(
                    select(PAYMENT_HISTORY.c.to_status).where(
                        PAYMENT_HISTORY.c.payment_id == payment["payment_id"],
                        PAYMENT_HISTORY.c.to_status != PAYMENT_HISTORY.c.from_status,
                    )
                )
            )
            .scalars()
            .all()
        )
        after = (await s.execute(select(func.count()).select_from(OUTBOX))).scalar_one()
    assert moves == ["authorized"]
    # one payment.status_changed and one payment.authorized (the relay may have sent some)
    assert after - before <= 2


async def test_events_out_of_order_keep_the_later_state(pay: Payments) -> None:
    """Stripe does not promise order: `succeeded` (captured) may come before
    `amount_capturable_updated`; the older one then changes nothing."""
    payment = await pending(pay)
    captured = await pay.intent_event(payment, "payment_intent.succeeded", "succeeded")
    late = await pay.intent_event(
        payment, "payment_intent.amount_capturable_updated", "requires_capture"
    )
    assert (captured.json()["outcome"], late.json()["outcome"]) == ("applied", "stale")
    assert (await pay.get(str(payment["payment_id"])))["status"] == "captured"


async def test_unknown_payments_and_types_are_acknowledged(pay: Payments) -> None:
    obj = payment_intent("pi_notours000000000000", amount=100, currency="EUR", status="succeeded")
    r = await pay.webhook("payment_intent.succeeded", obj)
    assert r.status_code == 200
    assert r.json()["outcome"] == "unknown-payment"
    r = await pay.webhook("customer.created", {"id": "cus_1", "object": "customer"})
    assert r.status_code == 200
    assert r.json()["outcome"] == "ignored"
