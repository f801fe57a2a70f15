"""The checkout saga with the real payment service: product, inventory, order and payment apps
in-process (tests/integration/order_checkout/conftest.py, `running_shop(payment="service")`),
the payment service calling stripe-mock through the stripe SDK.

stripe-mock is stateless and its PaymentIntent fixture is never a decision
(`requires_payment_method` without a card error), so every authorization stays `pending` and
the saga's `authorize_payment` gets no reply until a signed webhook decides. The tests play
Stripe: they find the order's payment (`GET /v1/payments?order_id=`) and POST the event Stripe
would send — the PaymentIntent shaped as Stripe documents it
(https://docs.stripe.com/api/payment_intents/object), signed with the endpoint secret.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import select

from kommerce.events.emitter import registry
from kommerce.events.outbox import OUTBOX
from kommerce.events.serde import decode_payload
from services.order.tables import ORDERS
from services.payment.providers import stripe_events
from tests.integration.apps import eventually
from tests.integration.order_checkout.conftest import Shop
from tests.integration.payment_service.harness import Payments

THREE_DS_URL = "https://hooks.stripe.com/3d_secure_2/hosted?merchant=acct_test&payment_intent="


def payment_intent(payment: dict[str, Any], status: str, **fields: Any) -> dict[str, Any]:
    """The payment's PaymentIntent as Stripe would render it in an event, at `status`."""
    return stripe_events.payment_intent(
        payment["provider_reference"],
        amount=payment["amount_minor"],
        currency=payment["currency"],
        status=status,
        capture_method=payment["capture_method"],
        description=f"order {payment['order_id']}",
        metadata={"payment_id": payment["payment_id"], "order_id": payment["order_id"]},
        **fields,
    )


def authorized_intent(payment: dict[str, Any]) -> dict[str, Any]:
    """`payment_intent.amount_capturable_updated`: the card was authorized (manual capture)."""
    return payment_intent(payment, "requires_capture")


def declined_intent(payment: dict[str, Any], decline_code: str) -> dict[str, Any]:
    """`payment_intent.payment_failed`: the issuer declined; the intent wants another method."""
    return payment_intent(
        payment,
        "requires_payment_method",
        last_payment_error={
            "type": "card_error",
            "code": "card_declined",
            "decline_code": decline_code,
            "doc_url": "https://stripe.com/docs/error-codes/card-declined",
            "message": "Your card has insufficient funds.",
            "payment_method": {"id": "pm_card_visa", "object": "payment_method", "type": "card"},
        },
        payment_method=None,
    )


def requires_action_intent(payment: dict[str, Any]) -> dict[str, Any]:
    """`payment_intent.requires_action`: 3-D Secure; the shopper is sent to the issuer."""
    return payment_intent(
        payment,
        "requires_action",
        next_action={
            "type": "redirect_to_url",
            "redirect_to_url": {
                "return_url": f"http://127.0.0.1:8105/checkout/return?payment_id={payment['payment_id']}",
                "url": THREE_DS_URL + payment["provider_reference"],
            },
        },
    )


class Stripe(Payments):
    """Plays Stripe towards the shop's payment service (`Payments.webhook`, `get`, `history`
    of tests/integration/payment_service/harness.py), and reads what the saga saw."""

    def __init__(self, shop: Shop) -> None:
        assert shop.payment is not None, "the shop runs without the payment service"
        assert shop.payment_db is not None, "the shop runs the sandbox, not the payment service"
        super().__init__(shop.payment, shop.payment_db, shop.minter, shop.merchant)
        self.shop = shop

    async def payment_of(self, order_id: str, who: dict[str, str] | None = None) -> dict[str, Any]:
        """The order's payment, once the saga's authorize_payment has created it."""

        async def found() -> dict[str, Any] | None:
            r = await self.http.get(
                "/v1/payments", params={"order_id": order_id}, headers=who or self.staff
            )
            assert r.status_code == 200, r.text
            rows: list[dict[str, Any]] = r.json()
            return rows[0] if rows else None

        payment: dict[str, Any] = await eventually(
            found, seconds=45, what=f"the payment of order {order_id}"
        )
        return payment

    async def send(
        self, event_type: str, obj: dict[str, Any], *, event_id: str | None = None
    ) -> httpx.Response:
        return await self.webhook(event_type, obj, event_id=event_id)

    async def deliver(self, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        r = await self.send(event_type, obj)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        assert body["outcome"] == "applied", body
        return body

    async def replies(self, saga_id: str) -> list[dict[str, Any]]:
        """The saga replies the payment service wrote (its outbox) for this saga, oldest first."""
        async with self.db.session() as s:
            rows = await s.execute(
                select(OUTBOX.c.value)
                .where(OUTBOX.c.topic == "checkout.replies.v1")
                .order_by(OUTBOX.c.id)
            )
            payloads = [decode_payload(registry(), bytes(v))[1] for v in rows.scalars()]
        return [p for p in payloads if p["saga_id"] == saga_id]

    async def saga_id(self, order_id: str) -> str:
        async with self.shop.orders_db.session() as s:
            found = await s.execute(
                select(ORDERS.c.saga_id).where(ORDERS.c.id == uuid.UUID(order_id))
            )
            return str(found.scalar_one())
