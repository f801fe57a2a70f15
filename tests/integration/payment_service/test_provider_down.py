"""Stripe unreachable: retries (same idempotency key), then a 503 that keeps nothing; after
`breaker_failures` such calls the breaker opens and calls fail fast without reaching Stripe;
a retry with the same Idempotency-Key works once Stripe is back."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from services.payment.providers.base import AuthorizeRequest, ProviderPayment
from services.payment.providers.stripe import StripeProvider
from services.payment.tables import PAYMENTS
from tests.integration.payment_service.harness import Payments, running
from tests.tokens import TokenMinter

pytestmark = pytest.mark.integration


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Switch(StripeProvider):
    """The real Stripe provider, pointed at a closed port until `up()` points it at
    stripe-mock; counts the authorize calls that reached it."""

    def __init__(self) -> None:
        super().__init__("sk_test_kommerce", api_base=f"http://127.0.0.1:{closed_port()}")
        self.calls = 0
        self.real: StripeProvider | None = None

    def up(self) -> None:
        self.real = StripeProvider(
            "sk_test_kommerce", api_base=os.environ["KOMMERCE_STRIPE_API_BASE"]
        )

    async def authorize(
        self, request: AuthorizeRequest, *, idempotency_key: str
    ) -> ProviderPayment:
        self.calls += 1
        if self.real is not None:
            return await self.real.authorize(request, idempotency_key=idempotency_key)
        return await super().authorize(request, idempotency_key=idempotency_key)

    async def aclose(self) -> None:
        if self.real is not None:
            await self.real.aclose()
        await super().aclose()


@pytest.fixture
async def down(
    stack_env: dict[str, str], minter: TokenMinter
) -> AsyncIterator[tuple[Payments, Switch]]:
    stripe = Switch()
    async with running(
        minter,
        providers=[stripe],
        provider_attempts=2,
        breaker_failures=3,
        breaker_reset_seconds=0.5,
    ) as p:
        yield p, stripe


async def test_outage_retries_then_breaker_then_recovery(down: tuple[Payments, Switch]) -> None:
    pay, stripe = down
    user, shopper = pay.shopper()
    key = str(uuid.uuid4())
    r = await pay.create(shopper, key=key)
    assert r.status_code == 503, r.text
    assert r.json()["type"].endswith("/dependency-unavailable")
    assert stripe.calls == 2  # retried once with the same key, then gave up
    r = await pay.create(shopper)
    assert r.status_code == 503
    assert stripe.calls == 3  # the third transient failure opened the breaker mid-retry
    r = await pay.create(shopper)
    assert r.status_code == 503
    assert "too many recent failures" in r.json()["detail"]
    assert stripe.calls == 3  # fail fast: Stripe was not called
    async with pay.db.session() as s:
        kept = (
            await s.execute(
                select(func.count()).select_from(PAYMENTS).where(PAYMENTS.c.customer_id == user)
            )
        ).scalar_one()
    assert kept == 0  # nothing half-done was kept

    stripe.up()
    await asyncio.sleep(0.6)  # the breaker lets a trial call through after its reset time
    r = await pay.create(shopper, key=key)  # the same key as the first, failed, attempt
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "pending"
