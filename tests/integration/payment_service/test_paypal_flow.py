"""PayPal through the payment API, at the HTTP boundary (respx; PayPal cannot run here):
create → the payer's approval link → CHECKOUT.ORDER.APPROVED (verified by PayPal's
verify-webhook-signature API) → authorized → capture → partial refund. Bodies: PayPal's docs
(tests/paypal_documented.py). Stripe stays real (stripe-mock passes through)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import respx

from services.payment.providers.paypal import SANDBOX, PayPalProvider
from services.payment.providers.stripe import StripeProvider
from tests.integration.payment_service.harness import Payments, running
from tests.paypal_documented import (
    AUTH,
    CAPTURE,
    HEADERS,
    ORDER,
    TOKEN,
    WEBHOOK_ID,
    approved_order,
    authorized_order,
    capture_body,
    created_order,
    paypal_event,
    refund_body,
)
from tests.tokens import TokenMinter

pytestmark = pytest.mark.integration


@pytest.fixture
def paypal_api(stack_env: dict[str, str]) -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as api:
        api.route(host="127.0.0.1").pass_through()  # stripe-mock is real
        api.post(f"{SANDBOX}/v1/oauth2/token").mock(return_value=httpx.Response(200, json=TOKEN))
        api.post(f"{SANDBOX}/v2/checkout/orders", name="create").mock(
            return_value=httpx.Response(200, json=created_order("19.99"))
        )
        api.get(f"{SANDBOX}/v2/checkout/orders/{ORDER}").mock(
            return_value=httpx.Response(200, json=approved_order())
        )
        api.post(f"{SANDBOX}/v2/checkout/orders/{ORDER}/authorize", name="authorize").mock(
            return_value=httpx.Response(201, json=authorized_order())
        )
        api.post(f"{SANDBOX}/v1/notifications/verify-webhook-signature", name="verify").mock(
            return_value=httpx.Response(200, json={"verification_status": "SUCCESS"})
        )
        api.post(f"{SANDBOX}/v2/payments/authorizations/{AUTH}/capture", name="capture").mock(
            return_value=httpx.Response(201, json=capture_body("19.99"))
        )
        api.post(f"{SANDBOX}/v2/payments/captures/{CAPTURE}/refund", name="refund").mock(
            return_value=httpx.Response(201, json=refund_body("5.00"))
        )
        yield api


@pytest.fixture
async def pay(
    stack_env: dict[str, str], minter: TokenMinter, paypal_api: respx.MockRouter
) -> AsyncIterator[Payments]:
    providers = [
        StripeProvider("sk_test_kommerce", api_base=os.environ["KOMMERCE_STRIPE_API_BASE"]),
        PayPalProvider("client-id", "client-secret", webhook_id=WEBHOOK_ID, api_base=SANDBOX),
    ]
    async with running(minter, providers=providers) as p:
        yield p


async def test_paypal_approve_authorize_capture_refund(
    pay: Payments, paypal_api: respx.MockRouter
) -> None:
    _, shopper = pay.shopper()
    r = await pay.create(shopper, amount_minor=1999, provider="paypal", payment_method="paypal")
    assert r.status_code == 201, r.text
    payment = r.json()
    assert payment["status"] == "requires_action"
    assert payment["provider_reference"] == ORDER
    assert payment["next_action"]["type"] == "redirect_to_url"
    assert "paypal.com" in payment["next_action"]["url"]
    sent = paypal_api["create"].calls.last.request
    assert sent.headers["PayPal-Request-Id"]
    assert json.loads(sent.content)["purchase_units"][0]["amount"] == {
        "currency_code": "EUR",
        "value": "19.99",
    }

    event = paypal_event("CHECKOUT.ORDER.APPROVED", approved_order(), "checkout-order")
    event["id"] = f"WH-{uuid.uuid4().hex[:20].upper()}"
    r = await pay.http.post("/v1/webhooks/paypal", content=json.dumps(event), headers=HEADERS)
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "applied"
    assert paypal_api["verify"].called
    assert paypal_api["authorize"].called
    assert (await pay.get(payment["payment_id"]))["status"] == "authorized"

    r = await pay.post(f"/v1/payments/{payment['payment_id']}/capture")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "captured"
    r = await pay.post(f"/v1/payments/{payment['payment_id']}/refunds", {"amount_minor": 500})
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "succeeded"
    after = await pay.get(payment["payment_id"])
    assert (after["status"], after["refunded_minor"]) == ("partially_refunded", 500)


async def test_unverified_paypal_webhook_is_rejected(
    pay: Payments, paypal_api: respx.MockRouter
) -> None:
    paypal_api["verify"].mock(
        return_value=httpx.Response(200, json={"verification_status": "FAILURE"})
    )
    event = paypal_event("CHECKOUT.ORDER.APPROVED", approved_order(), "checkout-order")
    r = await pay.http.post("/v1/webhooks/paypal", content=json.dumps(event), headers=HEADERS)
    assert r.status_code == 400
    assert r.json()["type"].endswith("/invalid-webhook")
