"""The payment service in-process on the test stack (PostgreSQL, Redis, Kafka, stripe-mock),
and what tests do to it: API calls as a shopper or staff, and Stripe's webhooks.

stripe-mock answers every PaymentIntent call with a fixture that is not a decision, so a
payment stays `pending` after the call; the tests then send the event Stripe would send
(`payment_intent.amount_capturable_updated`, `...payment_failed`, `charge.dispute.created`,
...), shaped like Stripe's documented objects and signed with the test endpoint secret.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from kommerce.data.db import Database
from services.payment.app import create_app
from services.payment.providers.base import PaymentProvider
from services.payment.providers.stripe_events import payment_intent, sign_stripe_event, stripe_event
from services.payment.settings import PaymentSettings
from tests.integration.apps import serving
from tests.tokens import TokenMinter

SECRET = "whsec_kommerce_local"  # nosec B105: PaymentSettings' test default


def settings(tag: str, **overrides: Any) -> PaymentSettings:
    values: dict[str, Any] = {
        "environment": "test",
        "schema_name": f"payments_{tag}",
        "consumer_group": f"payment-{tag}",
        "consumer_enabled": False,  # the saga suites run the participant
        "provider_attempts": 2,
    }
    return PaymentSettings(**(values | overrides))


@dataclass
class Payments:
    http: httpx.AsyncClient
    db: Database
    minter: TokenMinter
    staff: dict[str, str]

    def shopper(self) -> tuple[str, dict[str, str]]:
        user_id = str(uuid.uuid4())
        return user_id, self.minter.bearer(roles=["shopper"], user_id=user_id)

    async def create(
        self,
        who: dict[str, str],
        *,
        amount_minor: int = 2599,
        currency: str = "EUR",
        key: str | None = None,
        **body: Any,
    ) -> httpx.Response:
        return await self.http.post(
            "/v1/payments",
            headers={**who, "Idempotency-Key": key or str(uuid.uuid4())},
            json={
                "amount_minor": amount_minor,
                "currency": currency,
                "payment_method": "pm_card_visa",
                **body,
            },
        )

    async def get(self, payment_id: str, who: dict[str, str] | None = None) -> dict[str, Any]:
        r = await self.http.get(f"/v1/payments/{payment_id}", headers=who or self.staff)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    async def history(self, payment_id: str) -> list[dict[str, Any]]:
        r = await self.http.get(f"/v1/payments/{payment_id}/history", headers=self.staff)
        assert r.status_code == 200, r.text
        rows: list[dict[str, Any]] = r.json()
        return rows

    async def post(self, path: str, body: Any = None, *, key: str | None = None) -> httpx.Response:
        return await self.http.post(
            path,
            headers={**self.staff, "Idempotency-Key": key or str(uuid.uuid4())},
            json=body if body is not None else {},
        )

    async def webhook(
        self,
        event_type: str,
        obj: dict[str, Any],
        *,
        event_id: str | None = None,
        secret: str = SECRET,
        timestamp: int | None = None,
        raw: bytes | None = None,
    ) -> httpx.Response:
        """Deliver one event as Stripe does: the raw JSON body, `Stripe-Signature` over it."""
        payload = raw or json.dumps(stripe_event(event_type, obj, event_id=event_id)).encode()
        return await self.http.post(
            "/v1/webhooks/stripe",
            content=payload,
            headers={
                "Stripe-Signature": sign_stripe_event(payload, secret, timestamp),
                "Content-Type": "application/json",
            },
        )

    async def intent_event(
        self, payment: dict[str, Any], event_type: str, status: str, **fields: Any
    ) -> httpx.Response:
        """A payment_intent.* event for the payment, as Stripe would send it."""
        return await self.webhook(
            event_type,
            payment_intent(
                payment["provider_reference"],
                amount=payment["amount_minor"],
                currency=payment["currency"],
                status=status,
                capture_method=payment["capture_method"],
                metadata={"payment_id": payment["payment_id"]},
                **fields,
            ),
        )

    async def authorized(self, payment: dict[str, Any]) -> dict[str, Any]:
        r = await self.intent_event(
            payment, "payment_intent.amount_capturable_updated", "requires_capture"
        )
        assert r.status_code == 200, r.text
        return await self.get(payment["payment_id"])


@asynccontextmanager
async def running(
    minter: TokenMinter,
    *,
    providers: list[PaymentProvider] | None = None,
    **overrides: Any,
) -> AsyncIterator[Payments]:
    tag = uuid.uuid4().hex[:8]
    app = create_app(
        settings(tag, **overrides), auth=minter.authenticator(), provider_overrides=providers
    )
    async with serving(app, base_url="http://payment.test") as http:
        yield Payments(http, app.state.db, minter, minter.bearer(roles=["merchant"]))
