"""Checkout through the saga with the real payment service (stripe-mock behind the stripe SDK).

Each test checks out through the order API; the saga's `authorize_payment` creates the payment,
stripe-mock's answer is not a decision, so the command waits (no reply) until the test — playing
Stripe — delivers the signed webhook that decides: authorized, declined, 3-D Secure then
authorized. A webhook delivered 50 times at once is applied and answered once. An order above
the fraud block amount fails without a provider call.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from services.order.orders import load
from services.order.tables import ORDER_HISTORY
from tests.integration.apps import eventually
from tests.integration.order_checkout.conftest import Shop, running_shop
from tests.integration.payment_checkout.conftest import (
    THREE_DS_URL,
    Stripe,
    authorized_intent,
    declined_intent,
    requires_action_intent,
)
from tests.tokens import TokenMinter

pytestmark = pytest.mark.integration

# The fraud rules' amount limits (settlement currency EUR, minor units): a checkout of one
# 129.00 item (+ VAT, shipping) is well under review; the "fraud" item is above block.
REVIEW_MINOR = 500_000
BLOCK_MINOR = 1_000_000


@pytest.fixture(scope="module")
async def shop(
    stack_env: dict[str, str], minter: TokenMinter, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Shop]:
    async with running_shop(
        stack_env,
        minter,
        tmp_path_factory.mktemp("payshop"),
        payment="service",
        payment_overrides={
            "provider_attempts": 2,
            "fraud_review_amount_minor": REVIEW_MINOR,
            "fraud_block_amount_minor": BLOCK_MINOR,
        },
    ) as s:
        yield s


@pytest.fixture
def stripe(shop: Shop) -> Stripe:
    return Stripe(shop)


async def history(shop: Shop, order_id: str) -> list[str]:
    async with shop.orders_db.session() as s:
        rows = await s.execute(
            select(ORDER_HISTORY.c.to_status)
            .where(ORDER_HISTORY.c.order_id == uuid.UUID(order_id))
            .order_by(ORDER_HISTORY.c.id)
        )
        return list(rows.scalars())


async def checked_out(
    shop: Shop, *, quantity: int = 2, price_minor: int = 12900, stock: int = 5
) -> tuple[str, str, dict[str, str]]:
    """(variant, order id, shopper): an order whose saga is at the payment step or past it."""
    variant = await shop.variant(price_minor=price_minor, stock=stock)
    shopper = shop.shopper()
    await shop.add(shopper, variant, quantity)
    r = await shop.checkout(shopper)
    assert r.status_code == 201, r.text
    order: dict[str, Any] = r.json()
    return variant, order["id"], shopper


async def status(shop: Shop, order_id: str, shopper: dict[str, str]) -> dict[str, Any]:
    r = await shop.order.get(f"/v1/orders/{order_id}/status", headers=shopper)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def transitions(rows: list[dict[str, Any]]) -> list[tuple[str | None, str, str]]:
    return [
        (h["from_status"], h["to_status"], h["action"])
        for h in rows
        if h["from_status"] != h["to_status"]
    ]


async def test_authorized_webhook_pays_the_order(shop: Shop, stripe: Stripe) -> None:
    variant, order_id, shopper = await checked_out(shop)
    payment = await stripe.payment_of(order_id, shopper)  # the shopper sees their own payment
    assert payment["status"] == "pending"  # stripe-mock's fixture is not a decision
    assert payment["provider_reference"].startswith("pi_")
    assert payment["provider"] == "stripe"
    assert payment["client_secret"]  # for the shopper's Stripe.js
    assert (payment["amount_minor"], payment["currency"]) == (25800 + 4902 + 490, "EUR")
    assert payment["fraud_decision"] == "allow"
    # the saga waits: no reply yet, the order is awaiting payment
    assert await stripe.replies(await stripe.saga_id(order_id)) == []
    assert (await status(shop, order_id, shopper))["status"] == "awaiting_payment"

    await stripe.deliver("payment_intent.amount_capturable_updated", authorized_intent(payment))

    settled = await shop.settled(order_id, shopper)
    assert settled["status"] == "paid", settled
    assert await history(shop, order_id) == ["pending", "awaiting_payment", "paid"]
    async with shop.orders_db.session() as s:
        order = await load(s, uuid.UUID(order_id))
    assert order.row["payment_id"] == payment["payment_id"]  # the saga's reply
    after = await stripe.get(payment["payment_id"])
    assert after["status"] == "authorized"
    assert transitions(await stripe.history(payment["payment_id"])) == [
        (None, "pending", "create"),
        ("pending", "authorized", "webhook"),
    ]
    assert await shop.stock(variant) == {"on_hand": 3, "reserved": 0}
    [reply] = await stripe.replies(await stripe.saga_id(order_id))
    assert (reply["name"], reply["outcome"]) == ("authorize_payment", "success")


async def test_shipping_the_order_captures_the_payment(shop: Shop, stripe: Stripe) -> None:
    """Authorized at checkout, captured when the order ships (`order.shipped` → the payment
    service's consumer); a refund is possible from then on."""
    _, order_id, shopper = await checked_out(shop, quantity=1)
    payment = await stripe.payment_of(order_id)
    await stripe.deliver("payment_intent.amount_capturable_updated", authorized_intent(payment))
    assert (await shop.settled(order_id, shopper))["status"] == "paid"
    r = await shop.order.post(f"/v1/orders/{order_id}/fulfil", headers=shop.merchant)
    assert r.status_code == 200, r.text
    r = await shop.order.post(
        f"/v1/orders/{order_id}/shipments",
        headers=shop.merchant,
        json={"carrier": "dhl", "tracking_number": f"1Z{uuid.uuid4().hex[:12].upper()}"},
    )
    assert r.status_code in (200, 201), r.text

    async def captured() -> dict[str, Any] | None:
        now = await stripe.get(payment["payment_id"])
        return now if now["status"] == "captured" else None

    after = await eventually(captured, seconds=45, what="the payment to be captured")
    assert after["captured_minor"] == payment["amount_minor"]
    assert transitions(await stripe.history(payment["payment_id"]))[-1][1:] == (
        "captured",
        "capture",
    )


async def test_declined_card_fails_the_order_and_releases_stock(shop: Shop, stripe: Stripe) -> None:
    variant, order_id, shopper = await checked_out(shop, quantity=2, stock=4)
    payment = await stripe.payment_of(order_id)
    assert await shop.stock(variant) == {"on_hand": 4, "reserved": 2}

    await stripe.deliver(
        "payment_intent.payment_failed", declined_intent(payment, "insufficient_funds")
    )

    settled = await shop.settled(order_id, shopper)
    assert settled["status"] == "payment_failed", settled
    reason = settled["failure_reason"]
    assert reason.startswith("authorize_payment: card_declined: insufficient_funds"), reason
    after = await stripe.get(payment["payment_id"])
    assert (after["status"], after["failure_code"]) == ("failed", "insufficient_funds")
    assert after["failure_message"] == "Your card has insufficient funds."
    assert await shop.stock(variant) == {"on_hand": 4, "reserved": 0}
    [reservation] = await shop.reservations(order_id)
    assert reservation["status"] == "released"
    assert await history(shop, order_id) == ["pending", "awaiting_payment", "payment_failed"]
    [reply] = await stripe.replies(await stripe.saga_id(order_id))
    assert reply["outcome"] == "failure"


async def test_three_d_secure_then_authorized(shop: Shop, stripe: Stripe) -> None:
    _, order_id, shopper = await checked_out(shop)
    payment = await stripe.payment_of(order_id)

    await stripe.deliver("payment_intent.requires_action", requires_action_intent(payment))

    challenged = await stripe.get(payment["payment_id"], shopper)
    assert challenged["status"] == "requires_action"
    url = challenged["next_action"]["redirect_to_url"]["url"]
    assert url == THREE_DS_URL + payment["provider_reference"]
    # still deferred: the saga waits, the order awaits payment
    assert await stripe.replies(await stripe.saga_id(order_id)) == []
    assert (await status(shop, order_id, shopper))["status"] == "awaiting_payment"

    # the shopper is back from the issuer's page: the payment service asks Stripe (stripe-mock's
    # fixture decides nothing), so the payment stays where it is and the saga keeps waiting
    r = await stripe.http.post(f"/v1/payments/{payment['payment_id']}/return", headers=shopper)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "requires_action"
    assert (await status(shop, order_id, shopper))["status"] == "awaiting_payment"

    await stripe.deliver("payment_intent.amount_capturable_updated", authorized_intent(payment))

    settled = await shop.settled(order_id, shopper)
    assert settled["status"] == "paid", settled
    after = await stripe.get(payment["payment_id"])
    assert (after["status"], after["next_action"]) == ("authorized", None)
    assert transitions(await stripe.history(payment["payment_id"])) == [
        (None, "pending", "create"),
        ("pending", "requires_action", "webhook"),
        ("requires_action", "authorized", "webhook"),
    ]


async def test_a_webhook_delivered_50_times_at_once_is_applied_once(
    shop: Shop, stripe: Stripe
) -> None:
    variant, order_id, shopper = await checked_out(shop, quantity=1, stock=2)
    payment = await stripe.payment_of(order_id)
    event_id = f"evt_{uuid.uuid4().hex[:24]}"  # Stripe retries deliver the same event id
    obj = authorized_intent(payment)

    responses = await asyncio.gather(
        *(
            stripe.send("payment_intent.amount_capturable_updated", obj, event_id=event_id)
            for _ in range(50)
        )
    )

    assert [r.status_code for r in responses] == [200] * 50, [r.text for r in responses]
    outcomes = sorted(r.json()["outcome"] for r in responses)
    assert outcomes == ["applied"] + ["duplicate"] * 49
    settled = await shop.settled(order_id, shopper)
    assert settled["status"] == "paid", settled
    assert await history(shop, order_id) == ["pending", "awaiting_payment", "paid"]
    rows = await stripe.history(payment["payment_id"])
    assert [h for h in rows if h["to_status"] == "authorized"] == [
        h for h in rows if h["from_status"] == "pending" and h["to_status"] == "authorized"
    ]
    assert len([h for h in rows if h["to_status"] == "authorized"]) == 1
    replies = await stripe.replies(await stripe.saga_id(order_id))
    assert [(x["name"], x["outcome"]) for x in replies] == [("authorize_payment", "success")]
    assert await shop.stock(variant) == {"on_hand": 1, "reserved": 0}

    # one more delivery later changes nothing either
    r = await stripe.send("payment_intent.amount_capturable_updated", obj, event_id=event_id)
    assert r.json()["outcome"] == "duplicate"


async def test_fraud_block_fails_the_order_without_a_provider_call(
    shop: Shop, stripe: Stripe
) -> None:
    # 1 x 9,000.00 + 19 % VAT + 4.90 shipping: above the block amount of 10,000.00
    variant, order_id, shopper = await checked_out(shop, quantity=1, price_minor=900_000)
    settled = await shop.settled(order_id, shopper)
    assert settled["status"] == "payment_failed", settled
    assert settled["failure_reason"].startswith("authorize_payment: fraud_blocked"), settled
    payment = await stripe.payment_of(order_id)
    assert (payment["status"], payment["fraud_decision"]) == ("failed", "block")
    assert payment["failure_code"] == "fraud_blocked"
    assert payment["provider_reference"] is None  # Stripe was never asked
    assert await shop.stock(variant) == {"on_hand": 5, "reserved": 0}
    [reservation] = await shop.reservations(order_id)
    assert reservation["status"] == "released"
    [reply] = await stripe.replies(await stripe.saga_id(order_id))
    assert reply["outcome"] == "failure"
