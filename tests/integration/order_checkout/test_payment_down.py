"""The payment service is down: the checkout saga times out at the payment step, voids the
authorization on suspicion (unconfirmed: nobody answers), releases the stock all the same, and
the order ends `payment_failed` with the saga flagged for a human."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.order_checkout.conftest import Shop, running_shop
from tests.tokens import TokenMinter

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def shop_without_payment(
    stack_env: dict[str, str], minter: TokenMinter, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Shop]:
    async with running_shop(
        stack_env,
        minter,
        tmp_path_factory.mktemp("nopay"),
        payment=False,
        payment_timeout_seconds=1.5,
        step_retries=1,
    ) as s:
        yield s


async def test_payment_timeout_compensates(shop_without_payment: Shop) -> None:
    shop = shop_without_payment
    variant = await shop.variant(stock=3)
    shopper = shop.shopper()
    await shop.add(shopper, variant, 2)
    r = await shop.checkout(shopper)
    assert r.status_code == 201, r.text
    order_id = r.json()["id"]
    settled = await shop.settled(order_id, shopper, seconds=60)
    assert settled["status"] == "payment_failed"
    assert settled["failure_reason"].startswith("authorize_payment timed out after 2 attempt(s)")
    assert "compensation not confirmed" in settled["failure_reason"]
    [reservation] = await shop.reservations(order_id)
    assert reservation["status"] == "released"
    assert await shop.stock(variant) == {"on_hand": 3, "reserved": 0}
    sent = await shop.sent_commands(order_id)
    assert sent == [
        "sent reserve_stock",
        "sent authorize_payment",
        "sent authorize_payment",
        "sent void_authorization",
        "sent void_authorization",
        "sent release_stock",
    ]
