"""Each Stripe flow through the API, the real SDK and stripe-mock; outcomes by signed webhook."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from services.payment.tables import PAYMENTS
from tests.integration.payment_service.harness import Payments, running
from tests.tokens import TokenMinter

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def pay(stack_env: dict[str, str], minter: TokenMinter) -> AsyncIterator[Payments]:
    async with running(minter) as p:
        for base, rate in (("JPY", "0.006154"), ("KWD", "2.987654"), ("USD", "0.9231")):
            r = await p.http.put(f"/v1/fx-rates/{base}/EUR", headers=p.staff, json={"rate": rate})
            assert r.status_code == 200, r.text
        yield p


async def test_manual_capture_flow_authorize_capture_refund(pay: Payments) -> None:
    user, shopper = pay.shopper()
    r = await pay.create(shopper, amount_minor=2599, currency="EUR")
    assert r.status_code == 201, r.text
    payment = r.json()
    # stripe-mock accepted the PaymentIntent; its fixture is not a decision: the webhook decides
    assert payment["status"] == "pending"
    assert payment["provider_reference"].startswith("pi_")
    assert payment["customer_id"] == user
    assert payment["client_secret"]  # for the payer's Stripe.js
    assert (await pay.get(payment["payment_id"]))["client_secret"] is None  # not for staff

    payment = await pay.authorized(payment)
    assert payment["status"] == "authorized"

    r = await pay.post(f"/v1/payments/{payment['payment_id']}/capture", {"amount_minor": 2000})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "captured"
    assert r.json()["captured_minor"] == 2000

    r = await pay.post(f"/v1/payments/{payment['payment_id']}/refunds", {"amount_minor": 500})
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "succeeded"  # stripe-mock's refund fixture
    assert r.json()["provider_reference"].startswith("re_")
    after = await pay.get(payment["payment_id"])
    assert (after["status"], after["refunded_minor"]) == ("partially_refunded", 500)

    # more than is left of the 2000 captured: refused, nothing changes
    r = await pay.post(f"/v1/payments/{payment['payment_id']}/refunds", {"amount_minor": 1501})
    assert r.status_code == 409, r.text
    assert r.json()["type"].endswith("/refund-exceeds-captured")
    r = await pay.post(f"/v1/payments/{payment['payment_id']}/refunds", {"amount_minor": 1500})
    assert r.status_code == 201, r.text
    after = await pay.get(payment["payment_id"])
    assert (after["status"], after["refunded_minor"]) == ("refunded", 2000)

    steps = [
        (h["from_status"], h["to_status"], h["action"])
        for h in await pay.history(payment["payment_id"])
    ]
    assert [s for s in steps if s[0] != s[1]] == [
        (None, "pending", "create"),
        ("pending", "authorized", "webhook"),
        ("authorized", "captured", "capture"),
        ("captured", "partially_refunded", "refund"),
        ("partially_refunded", "refunded", "refund"),
    ]


async def test_only_staff_name_an_order(pay: Payments) -> None:
    """An order's payment is the checkout saga's: a shopper naming an order id could block
    someone else's checkout (one payment per order)."""
    _, shopper = pay.shopper()
    order_id = f"o-{uuid.uuid4()}"
    r = await pay.create(shopper, order_id=order_id)
    assert r.status_code == 403, r.text
    r = await pay.create(pay.staff, order_id=order_id)
    assert r.status_code == 201, r.text
    assert r.json()["order_id"] == order_id
    r = await pay.create(pay.staff, order_id=order_id)
    assert r.status_code == 409, r.text  # one payment per order


async def test_automatic_capture_succeeded_webhook(pay: Payments) -> None:
    _, shopper = pay.shopper()
    r = await pay.create(shopper, capture_method="automatic")
    assert r.status_code == 201, r.text
    payment = r.json()
    r = await pay.intent_event(payment, "payment_intent.succeeded", "succeeded")
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "applied", r.text
    after = await pay.get(payment["payment_id"])
    assert (after["status"], after["captured_minor"]) == ("captured", payment["amount_minor"])


async def test_declined_by_webhook_records_the_decline_code(pay: Payments) -> None:
    _, shopper = pay.shopper()
    payment = (await pay.create(shopper)).json()
    r = await pay.intent_event(
        payment,
        "payment_intent.payment_failed",
        "requires_payment_method",
        last_payment_error={
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds.",
        },
    )
    assert r.status_code == 200, r.text
    after = await pay.get(payment["payment_id"])
    assert after["status"] == "failed"
    assert after["failure_code"] == "insufficient_funds"
    # a late "authorized" for a failed payment is stale: nothing changes
    r = await pay.intent_event(
        payment, "payment_intent.amount_capturable_updated", "requires_capture"
    )
    assert r.json()["outcome"] == "stale"
    assert (await pay.get(payment["payment_id"]))["status"] == "failed"


async def test_three_d_secure_requires_action_then_return_then_authorized(pay: Payments) -> None:
    _, shopper = pay.shopper()
    payment = (await pay.create(shopper)).json()
    next_action = {
        "type": "redirect_to_url",
        "redirect_to_url": {
            "url": "https://hooks.stripe.com/3d_secure_2/hosted?merchant=acct_1",
            "return_url": "http://127.0.0.1:8105/checkout/return",
        },
    }
    r = await pay.intent_event(
        payment, "payment_intent.requires_action", "requires_action", next_action=next_action
    )
    assert r.status_code == 200, r.text
    seen = await pay.get(payment["payment_id"], shopper)
    assert seen["status"] == "requires_action"
    assert seen["next_action"]["redirect_to_url"]["url"].startswith("https://hooks.stripe.com/")
    # back from the bank's page: the provider is asked (stripe-mock's fixture decides nothing)
    r = await pay.http.post(f"/v1/payments/{payment['payment_id']}/return", headers=shopper)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "requires_action"
    after = await pay.authorized(payment)
    assert after["status"] == "authorized"
    assert after["next_action"] is None


async def test_cancel_an_authorization(pay: Payments) -> None:
    _, shopper = pay.shopper()
    payment = await pay.authorized((await pay.create(shopper)).json())
    r = await pay.post(f"/v1/payments/{payment['payment_id']}/cancel")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    r = await pay.post(f"/v1/payments/{payment['payment_id']}/refunds", {"amount_minor": 1})
    assert r.status_code == 409  # nothing was captured


@pytest.mark.parametrize(
    ("currency", "amount", "settled"),
    [("EUR", 1999, 1999), ("JPY", 4572, 2814), ("KWD", 1230, 367)],
)
async def test_amounts_round_trip_exactly(
    pay: Payments, currency: str, amount: int, settled: int
) -> None:
    """JPY has no minor unit, KWD three: what is sent to Stripe is what comes back, and the
    settlement in EUR is the FX rate applied in Decimal, rounded half to even."""
    _, shopper = pay.shopper()
    r = await pay.create(shopper, amount_minor=amount, currency=currency)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["amount_minor"], body["currency"]) == (amount, currency)
    assert (body["settlement_currency"], body["settlement_amount_minor"]) == ("EUR", settled)
    async with pay.db.session() as s:
        row = (
            await s.execute(select(PAYMENTS).where(PAYMENTS.c.payment_id == body["payment_id"]))
        ).one()
    assert (row.amount_minor, row.currency) == (amount, currency)


async def test_kwd_amounts_stripe_cannot_take_fail_with_the_reason(pay: Payments) -> None:
    """Stripe takes three-decimal currencies in multiples of 10 (its rule): 1.234 KWD fails
    before any call, with the reason, rather than being rounded."""
    _, shopper = pay.shopper()
    r = await pay.create(shopper, amount_minor=1234, currency="KWD")
    assert r.status_code == 201, r.text
    assert (r.json()["status"], r.json()["failure_code"]) == ("failed", "invalid_request")
    assert "KWD" in r.json()["failure_message"]


async def test_no_fx_rate_is_refused(pay: Payments) -> None:
    _, shopper = pay.shopper()
    r = await pay.create(shopper, amount_minor=100, currency="CHF")
    assert r.status_code == 409, r.text
    assert r.json()["type"].endswith("/fx-rate-missing"), r.text


async def test_saved_payment_method_keeps_only_what_may_be_shown(pay: Payments) -> None:
    _, shopper = pay.shopper()
    r = await pay.http.post(
        "/v1/me/payment-methods",
        headers={**shopper, "Idempotency-Key": str(uuid.uuid4())},
        json={"payment_method": "pm_card_visa", "email": "ada@example.com"},
    )
    assert r.status_code == 201, r.text
    saved = r.json()
    assert saved["brand"] == "visa"
    assert len(saved["last4"]) == 4
    assert set(saved) == {
        "reference",
        "provider",
        "brand",
        "last4",
        "exp_month",
        "exp_year",
        "country",
        "created_at",
    }
    listed = (await pay.http.get("/v1/me/payment-methods", headers=shopper)).json()
    assert [m["reference"] for m in listed] == ["pm_card_visa"]


async def test_concurrent_identical_requests_make_one_payment(pay: Payments) -> None:
    user, shopper = pay.shopper()
    key = str(uuid.uuid4())
    responses = await asyncio.gather(*(pay.create(shopper, key=key) for _ in range(20)))
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    assert len({r.json()["payment_id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 19
    async with pay.db.session() as s:
        count = len(
            (
                await s.execute(select(PAYMENTS.c.payment_id).where(PAYMENTS.c.customer_id == user))
            ).all()
        )
    assert count == 1
    r = await pay.create(shopper, key=key, amount_minor=1)
    assert r.status_code == 409
    assert r.json()["type"].endswith("/idempotency-key-reused")
    r = await pay.http.post("/v1/payments", headers=shopper, json={})
    assert r.status_code == 428
