"""No webhook ever comes: the checkout saga's payment step times out, the saga voids the
authorization (the payment service cancels the PaymentIntent at stripe-mock), releases the stock,
and the order ends `payment_failed`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.order_checkout.conftest import Shop, running_shop
from tests.integration.payment_checkout.conftest import Stripe, authorized_intent
from tests.tokens import TokenMinter

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def shop(
    stack_env: dict[str, str], minter: TokenMinter, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Shop]:
    async with running_shop(
        stack_env,
        minter,
        tmp_path_factory.mktemp("paytimeout"),
        payment="service",
        payment_overrides={"provider_attempts": 2},
        payment_timeout_seconds=4,
        step_retries=0,
    ) as s:
        yield s


async def test_no_webhook_times_out_voids_and_releases(shop: Shop) -> None:
    stripe = Stripe(shop)
    variant = await shop.variant(stock=3)
    shopper = shop.shopper()
    await shop.add(shopper, variant, 2)
    r = await shop.checkout(shopper)
    assert r.status_code == 201, r.text
    order_id = r.json()["id"]
    payment = await stripe.payment_of(order_id)
    assert payment["status"] == "pending"

    settled = await shop.settled(order_id, shopper, seconds=60)

    assert settled["status"] == "payment_failed", settled
    assert settled["failure_reason"].startswith("authorize_payment timed out"), settled
    assert "compensation not confirmed" not in settled["failure_reason"]
    after = await stripe.get(payment["payment_id"])
    assert after["status"] == "cancelled"
    steps = [
        (h["from_status"], h["to_status"], h["action"], h["source"])
        for h in await stripe.history(payment["payment_id"])
        if h["from_status"] != h["to_status"]
    ]
    saga_id = await stripe.saga_id(order_id)
    assert steps == [
        (None, "pending", "create", f"saga:{saga_id}"),
        ("pending", "cancelled", "cancel", f"saga:{saga_id}"),
    ]
    [reservation] = await shop.reservations(order_id)
    assert reservation["status"] == "released"
    assert await shop.stock(variant) == {"on_hand": 3, "reserved": 0}
    sent = await shop.sent_commands(order_id)
    assert sent == [
        "sent reserve_stock",
        "sent authorize_payment",
        "sent void_authorization",
        "sent release_stock",
    ]
    replies = await stripe.replies(saga_id)
    # authorize_payment was never answered; void_authorization was
    assert [(x["name"], x["outcome"]) for x in replies] == [("void_authorization", "success")]

    # a late webhook for the voided payment cannot revive it
    r = await stripe.send("payment_intent.amount_capturable_updated", authorized_intent(payment))
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "stale"
    assert (await stripe.get(payment["payment_id"]))["status"] == "cancelled"
    assert (await shop.settled(order_id, shopper))["status"] == "payment_failed"
