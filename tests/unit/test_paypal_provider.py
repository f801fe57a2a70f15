"""PayPalProvider at the HTTP boundary (respx): PayPal's REST API cannot run here.

Request and response bodies follow PayPal's documentation: OAuth2 token
(https://developer.paypal.com/api/rest/authentication/), Orders v2 create / show / authorize
(https://developer.paypal.com/docs/api/orders/v2/), Payments v2 capture / void / refund
(https://developer.paypal.com/docs/api/payments/v2/), errors
(https://developer.paypal.com/api/rest/responses/) and webhook verification
(https://developer.paypal.com/docs/api/webhooks/v1/#verify-webhook-signature_post).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

from kommerce.money import Money
from services.payment.providers.base import (
    AuthorizeRequest,
    CardDeclined,
    Handle,
    InvalidProviderRequest,
    InvalidWebhook,
    Outcome,
    TransientProviderError,
    WebhookKind,
)
from services.payment.providers.paypal import SANDBOX, PayPalProvider, paypal_value
from tests.paypal_documented import (
    AUTH,
    CAPTURE,
    HEADERS,
    ORDER,
    TOKEN,
    WEBHOOK_ID,
    amount,
    approved_order,
    authorized_order,
    capture_body,
    created_order,
    error,
    links,
    paypal_event,
    refund_body,
)

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    """PayPal's API as respx answers it; every test starts with the token endpoint."""
    with respx.mock(assert_all_called=False) as mock:
        mock.post(f"{SANDBOX}/v1/oauth2/token", name="token").mock(
            return_value=httpx.Response(200, json=TOKEN)
        )
        yield mock


@pytest.fixture
async def paypal(api: respx.MockRouter, clock: Clock) -> AsyncIterator[PayPalProvider]:
    provider = PayPalProvider(
        "client-id", "client-secret", webhook_id=WEBHOOK_ID, api_base=SANDBOX, clock=clock
    )
    yield provider
    await provider.aclose()


def request(value: int, currency: str) -> AuthorizeRequest:
    return AuthorizeRequest(
        payment_id="pay_1",
        amount=Money(amount=value, currency=currency),
        payment_method="paypal",
        capture="manual",
        return_url="https://shop.test/payments/pay_1/return",
        description="Order ord_42",
        metadata={"order_id": "ord_42"},
    )


def body_of(route: respx.Route) -> Any:
    return json.loads(route.calls.last.request.content)


@pytest.mark.parametrize(
    ("minor", "currency", "value"),
    [
        (1999, "EUR", "19.99"),
        (1000, "EUR", "10.00"),
        (5000, "JPY", "5000"),
        (12345, "KWD", "12.345"),
    ],
)
async def test_create_order_requires_the_payer_s_approval(
    paypal: PayPalProvider, api: respx.MockRouter, minor: int, currency: str, value: str
) -> None:
    route = api.post(f"{SANDBOX}/v2/checkout/orders").mock(
        return_value=httpx.Response(200, json=created_order(value, currency))
    )
    payment = await paypal.authorize(request(minor, currency), idempotency_key="pay_1:authorize")
    assert payment.outcome is Outcome.REQUIRES_ACTION
    assert payment.next_action == {
        "type": "redirect_to_url",
        "url": f"https://www.sandbox.paypal.com/checkoutnow?token={ORDER}",
    }
    assert payment.handle.reference == ORDER
    assert (payment.amount_minor, payment.currency) == (minor, currency)
    sent = route.calls.last.request
    assert sent.headers["PayPal-Request-Id"] == "pay_1:authorize"
    assert sent.headers["Authorization"] == f"Bearer {TOKEN['access_token']}"
    body = json.loads(sent.content)
    assert body["intent"] == "AUTHORIZE"
    unit = body["purchase_units"][0]
    assert unit["amount"] == {"currency_code": currency, "value": value}
    assert (unit["reference_id"], unit["custom_id"], unit["invoice_id"]) == (
        "pay_1",
        "pay_1",
        "ord_42",
    )
    context = body["payment_source"]["paypal"]["experience_context"]
    assert context["return_url"] == "https://shop.test/payments/pay_1/return"
    assert context["cancel_url"] == "https://shop.test/payments/pay_1/return?cancelled=true"


async def test_created_status_with_approve_link(
    paypal: PayPalProvider, api: respx.MockRouter
) -> None:
    order = {
        "id": ORDER,
        "status": "CREATED",
        "links": links(("approve", f"https://www.sandbox.paypal.com/checkoutnow?token={ORDER}")),
    }
    api.post(f"{SANDBOX}/v2/checkout/orders").mock(return_value=httpx.Response(201, json=order))
    payment = await paypal.authorize(request(1999, "EUR"), idempotency_key="k")
    assert payment.outcome is Outcome.REQUIRES_ACTION
    assert payment.next_action is not None
    assert "checkoutnow" in payment.next_action["url"]
    assert payment.handle.data == {"amount_minor": "1999", "currency": "EUR"}
    assert (payment.amount_minor, payment.currency) == (1999, "EUR")


def test_amount_strings() -> None:
    assert paypal_value(Money(amount=1999, currency="EUR")) == "19.99"
    assert paypal_value(Money(amount=5, currency="EUR")) == "0.05"
    assert paypal_value(Money(amount=5000, currency="JPY")) == "5000"
    assert paypal_value(Money(amount=12345, currency="KWD")) == "12.345"
    assert paypal_value(Money(amount=10000, currency="TWD")) == "100"  # no decimals at PayPal
    with pytest.raises(InvalidProviderRequest):
        paypal_value(Money(amount=10050, currency="TWD"))


async def test_token_is_cached_until_it_expires(
    paypal: PayPalProvider, api: respx.MockRouter, clock: Clock
) -> None:
    api.get(f"{SANDBOX}/v2/checkout/orders/{ORDER}").mock(
        return_value=httpx.Response(200, json=created_order())
    )
    token = api.routes["token"]
    await paypal.retrieve(Handle(ORDER))
    await paypal.retrieve(Handle(ORDER))
    assert token.call_count == 1
    sent = token.calls.last.request
    assert (
        sent.headers["Authorization"]
        == "Basic " + __import__("base64").b64encode(b"client-id:client-secret").decode()
    )
    assert sent.content == b"grant_type=client_credentials"
    clock.now += TOKEN["expires_in"] - 30  # inside the last minute: renewed
    await paypal.retrieve(Handle(ORDER))
    assert token.call_count == 2


async def test_401_drops_the_token_and_is_transient(
    paypal: PayPalProvider, api: respx.MockRouter
) -> None:
    api.get(f"{SANDBOX}/v2/checkout/orders/{ORDER}").mock(
        side_effect=[
            httpx.Response(401, json={"error": "invalid_token", "error_description": "expired"}),
            httpx.Response(200, json=created_order()),
        ]
    )
    with pytest.raises(TransientProviderError):
        await paypal.retrieve(Handle(ORDER))
    await paypal.retrieve(Handle(ORDER))
    assert api.routes["token"].call_count == 2


async def test_bad_credentials_are_invalid() -> None:
    with respx.mock(base_url=SANDBOX) as mock:
        mock.post("/v1/oauth2/token").mock(
            return_value=httpx.Response(
                401,
                json={
                    "error": "invalid_client",
                    "error_description": "Client Authentication failed",
                },
            )
        )
        provider = PayPalProvider("bad", "bad", api_base=SANDBOX)
        with pytest.raises(InvalidProviderRequest, match="Client Authentication failed"):
            await provider.retrieve(Handle(ORDER))
        await provider.aclose()


async def test_approved_order_is_authorized_on_retrieve(
    paypal: PayPalProvider, api: respx.MockRouter
) -> None:
    api.get(f"{SANDBOX}/v2/checkout/orders/{ORDER}").mock(
        return_value=httpx.Response(200, json=approved_order())
    )
    authorize = api.post(f"{SANDBOX}/v2/checkout/orders/{ORDER}/authorize").mock(
        return_value=httpx.Response(201, json=authorized_order())
    )
    payment = await paypal.retrieve(Handle(ORDER, {"amount_minor": "1999", "currency": "EUR"}))
    assert payment.outcome is Outcome.AUTHORIZED
    assert payment.handle.data["authorization_id"] == AUTH
    assert (payment.amount_minor, payment.currency) == (1999, "EUR")
    assert authorize.calls.last.request.headers["PayPal-Request-Id"] == f"{ORDER}-authorize"


async def test_pending_approval_stays_requires_action(
    paypal: PayPalProvider, api: respx.MockRouter
) -> None:
    api.get(f"{SANDBOX}/v2/checkout/orders/{ORDER}").mock(
        return_value=httpx.Response(200, json=created_order())
    )
    payment = await paypal.retrieve(Handle(ORDER))
    assert payment.outcome is Outcome.REQUIRES_ACTION


async def test_declined_at_authorization(paypal: PayPalProvider, api: respx.MockRouter) -> None:
    api.get(f"{SANDBOX}/v2/checkout/orders/{ORDER}").mock(
        return_value=httpx.Response(200, json=approved_order())
    )
    api.post(f"{SANDBOX}/v2/checkout/orders/{ORDER}/authorize").mock(
        return_value=error(
            422,
            "UNPROCESSABLE_ENTITY",
            "INSTRUMENT_DECLINED",
            "The instrument presented  was either declined by the processor or bank, or it "
            "can't be used for this payment.",
        )
    )
    payment = await paypal.retrieve(Handle(ORDER))
    assert payment.outcome is Outcome.FAILED
    assert payment.decline_code == "INSTRUMENT_DECLINED"


async def test_decline_is_card_declined(paypal: PayPalProvider, api: respx.MockRouter) -> None:
    api.post(f"{SANDBOX}/v2/checkout/orders").mock(
        return_value=error(422, "UNPROCESSABLE_ENTITY", "INSTRUMENT_DECLINED", "declined")
    )
    with pytest.raises(CardDeclined) as caught:
        await paypal.authorize(request(1999, "EUR"), idempotency_key="k")
    assert caught.value.code == "INSTRUMENT_DECLINED"


async def test_other_4xx_is_invalid(paypal: PayPalProvider, api: respx.MockRouter) -> None:
    api.post(f"{SANDBOX}/v2/checkout/orders").mock(
        return_value=error(
            422, "UNPROCESSABLE_ENTITY", "CURRENCY_NOT_SUPPORTED", "Currency code is not supported"
        )
    )
    with pytest.raises(InvalidProviderRequest) as caught:
        await paypal.authorize(request(12345, "KWD"), idempotency_key="k")
    assert caught.value.code == "CURRENCY_NOT_SUPPORTED"
    assert "debug_id c9a75b43fc807" in caught.value.message


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_429_and_5xx_are_transient(
    paypal: PayPalProvider, api: respx.MockRouter, status: int
) -> None:
    api.post(f"{SANDBOX}/v2/checkout/orders").mock(
        return_value=error(status, "SERVICE_UNAVAILABLE", "SERVICE_UNAVAILABLE", "try later")
    )
    with pytest.raises(TransientProviderError):
        await paypal.authorize(request(1999, "EUR"), idempotency_key="k")


async def test_connection_error_is_transient(paypal: PayPalProvider, api: respx.MockRouter) -> None:
    api.post(f"{SANDBOX}/v2/checkout/orders").mock(side_effect=httpx.ConnectTimeout("timeout"))
    with pytest.raises(TransientProviderError):
        await paypal.authorize(request(1999, "EUR"), idempotency_key="k")


def authorized_handle() -> Handle:
    return Handle(ORDER, {"amount_minor": "1999", "currency": "EUR", "authorization_id": AUTH})


async def test_capture_full_and_partial(paypal: PayPalProvider, api: respx.MockRouter) -> None:
    route = api.post(f"{SANDBOX}/v2/payments/authorizations/{AUTH}/capture").mock(
        side_effect=[
            httpx.Response(201, json=capture_body("19.99")),
            httpx.Response(201, json=capture_body("5.00")),
        ]
    )
    full = await paypal.capture(authorized_handle(), None, idempotency_key="pay_1:capture")
    assert full.outcome is Outcome.CAPTURED
    assert full.handle.data["capture_id"] == CAPTURE
    assert (full.amount_minor, full.captured_minor) == (1999, 1999)
    assert body_of(route) == {"final_capture": True}
    assert route.calls.last.request.headers["PayPal-Request-Id"] == "pay_1:capture"
    partial = await paypal.capture(authorized_handle(), 500, idempotency_key="pay_1:capture:2")
    assert partial.captured_minor == 500
    assert body_of(route) == {"final_capture": True, "amount": amount("5.00")}


async def test_capture_before_authorization_is_invalid(
    paypal: PayPalProvider, api: respx.MockRouter
) -> None:
    with pytest.raises(InvalidProviderRequest, match="not authorized"):
        await paypal.capture(Handle(ORDER), None, idempotency_key="k")


async def test_void(paypal: PayPalProvider, api: respx.MockRouter) -> None:
    route = api.post(f"{SANDBOX}/v2/payments/authorizations/{AUTH}/void").mock(
        return_value=httpx.Response(204)
    )
    payment = await paypal.cancel(authorized_handle(), idempotency_key="pay_1:cancel")
    assert payment.outcome is Outcome.CANCELLED
    assert route.calls.last.request.headers["PayPal-Request-Id"] == "pay_1:cancel"
    # an order never authorized holds nothing: cancelled without a call
    assert (await paypal.cancel(Handle(ORDER), idempotency_key="k")).outcome is Outcome.CANCELLED
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("status", "ours"), [("COMPLETED", "succeeded"), ("PENDING", "pending"), ("FAILED", "failed")]
)
async def test_refund(
    paypal: PayPalProvider, api: respx.MockRouter, status: str, ours: str
) -> None:
    route = api.post(f"{SANDBOX}/v2/payments/captures/{CAPTURE}/refund").mock(
        return_value=httpx.Response(201, json=refund_body("5.00", status))
    )
    handle = Handle(ORDER, {**authorized_handle().data, "capture_id": CAPTURE})
    refund = await paypal.refund(
        handle,
        Money(amount=500, currency="EUR"),
        idempotency_key="pay_1:refund:1",
        reason="Defective product",
    )
    assert (refund.reference, refund.status, refund.amount_minor, refund.currency) == (
        "1JU08902781691411",
        ours,
        500,
        "EUR",
    )
    assert body_of(route) == {"amount": amount("5.00"), "note_to_payer": "Defective product"}
    assert route.calls.last.request.headers["PayPal-Request-Id"] == "pay_1:refund:1"


async def test_no_saved_methods(paypal: PayPalProvider, api: respx.MockRouter) -> None:
    assert await paypal.ensure_customer("cust-1", email=None, idempotency_key="k") == "cust-1"
    with pytest.raises(InvalidProviderRequest, match="not saved"):
        await paypal.attach_payment_method("cust-1", "x", idempotency_key="k")


# --- webhooks ------------------------------------------------------------------------------


def verify(api: respx.MockRouter, status: str = "SUCCESS") -> respx.Route:
    return api.post(f"{SANDBOX}/v1/notifications/verify-webhook-signature").mock(
        return_value=httpx.Response(200, json={"verification_status": status})
    )


async def test_webhook_verified_by_paypal(paypal: PayPalProvider, api: respx.MockRouter) -> None:
    route = verify(api)
    event = paypal_event("PAYMENT.CAPTURE.COMPLETED", capture_body(), "capture")
    parsed = await paypal.parse_webhook(json.dumps(event).encode(), HEADERS)
    assert parsed.kind is WebhookKind.CAPTURED
    assert parsed.event_id == event["id"]
    assert parsed.reference == ORDER
    assert parsed.handle_data == {"capture_id": CAPTURE, "authorization_id": AUTH}
    assert (parsed.amount_minor, parsed.currency) == (1999, "EUR")
    assert parsed.occurred_at == datetime(2026, 11, 28, 4, 31, 25, 940000, tzinfo=UTC)
    sent = body_of(route)
    assert sent == {
        "auth_algo": HEADERS["PAYPAL-AUTH-ALGO"],
        "cert_url": HEADERS["PAYPAL-CERT-URL"],
        "transmission_id": HEADERS["PAYPAL-TRANSMISSION-ID"],
        "transmission_sig": HEADERS["PAYPAL-TRANSMISSION-SIG"],
        "transmission_time": HEADERS["PAYPAL-TRANSMISSION-TIME"],
        "webhook_id": WEBHOOK_ID,
        "webhook_event": event,
    }


async def test_webhook_failure_is_rejected(paypal: PayPalProvider, api: respx.MockRouter) -> None:
    verify(api, "FAILURE")
    event = paypal_event("PAYMENT.CAPTURE.COMPLETED", capture_body(), "capture")
    with pytest.raises(InvalidWebhook, match="FAILURE"):
        await paypal.parse_webhook(json.dumps(event).encode(), HEADERS)


async def test_webhook_without_headers_or_json_is_rejected(
    paypal: PayPalProvider, api: respx.MockRouter
) -> None:
    route = verify(api)
    event = json.dumps(paypal_event("PAYMENT.CAPTURE.COMPLETED", capture_body(), "capture"))
    partial = {k: v for k, v in HEADERS.items() if k != "PAYPAL-TRANSMISSION-SIG"}
    with pytest.raises(InvalidWebhook, match="PAYPAL-TRANSMISSION-SIG"):
        await paypal.parse_webhook(event.encode(), partial)
    with pytest.raises(InvalidWebhook, match="not JSON"):
        await paypal.parse_webhook(b"{", HEADERS)
    assert route.call_count == 0


async def test_webhook_verification_unreachable_is_transient(
    paypal: PayPalProvider, api: respx.MockRouter
) -> None:
    api.post(f"{SANDBOX}/v1/notifications/verify-webhook-signature").mock(
        return_value=httpx.Response(503)
    )
    event = paypal_event("PAYMENT.CAPTURE.COMPLETED", capture_body(), "capture")
    with pytest.raises(TransientProviderError):
        await paypal.parse_webhook(json.dumps(event).encode(), HEADERS)


async def test_webhook_kinds(paypal: PayPalProvider, api: respx.MockRouter) -> None:
    verify(api)
    auth = authorized_order()["purchase_units"][0]["payments"]["authorizations"][0]
    auth = {**auth, "supplementary_data": {"related_ids": {"order_id": ORDER}}}
    cases: list[tuple[str, dict[str, Any], str, WebhookKind]] = [
        (
            "CHECKOUT.ORDER.APPROVED",
            approved_order(),
            "checkout-order",
            WebhookKind.REQUIRES_ACTION,
        ),
        ("PAYMENT.AUTHORIZATION.CREATED", auth, "authorization", WebhookKind.AUTHORIZED),
        (
            "PAYMENT.AUTHORIZATION.VOIDED",
            {**auth, "status": "VOIDED"},
            "authorization",
            WebhookKind.CANCELLED,
        ),
        ("PAYMENT.CAPTURE.COMPLETED", capture_body(), "capture", WebhookKind.CAPTURED),
        (
            "PAYMENT.CAPTURE.DENIED",
            {**capture_body(status="DECLINED"), "status_details": {"reason": "RISK"}},
            "capture",
            WebhookKind.FAILED,
        ),
        ("CHECKOUT.ORDER.COMPLETED", authorized_order(), "checkout-order", WebhookKind.IGNORED),
    ]
    for event_type, resource, resource_type, kind in cases:
        event = paypal_event(event_type, resource, resource_type)
        parsed = await paypal.parse_webhook(json.dumps(event).encode(), HEADERS)
        assert parsed.kind is kind, event_type
        if kind is not WebhookKind.IGNORED:
            assert parsed.reference == ORDER, event_type
    denied = paypal_event(
        "PAYMENT.CAPTURE.DENIED",
        {**capture_body(status="DECLINED"), "status_details": {"reason": "RISK"}},
        "capture",
    )
    parsed = await paypal.parse_webhook(json.dumps(denied).encode(), HEADERS)
    assert parsed.decline_code == "RISK"
    approved = paypal_event("CHECKOUT.ORDER.APPROVED", approved_order(), "checkout-order")
    parsed = await paypal.parse_webhook(json.dumps(approved).encode(), HEADERS)
    assert parsed.handle_data == {"order_status": "APPROVED"}
    created = paypal_event("PAYMENT.AUTHORIZATION.CREATED", auth, "authorization")
    parsed = await paypal.parse_webhook(json.dumps(created).encode(), HEADERS)
    assert parsed.handle_data == {"authorization_id": AUTH}


async def test_refund_webhook_finds_the_order_through_the_capture(
    paypal: PayPalProvider, api: respx.MockRouter
) -> None:
    verify(api)
    lookup = api.get(f"{SANDBOX}/v2/payments/captures/{CAPTURE}").mock(
        return_value=httpx.Response(200, json=capture_body())
    )
    event = paypal_event("PAYMENT.CAPTURE.REFUNDED", refund_body("5.00"), "refund")
    parsed = await paypal.parse_webhook(json.dumps(event).encode(), HEADERS)
    assert parsed.kind is WebhookKind.REFUND_UPDATED
    assert parsed.reference == ORDER
    assert parsed.refund is not None
    assert (parsed.refund.status, parsed.refund.amount_minor) == ("succeeded", 500)
    assert parsed.handle_data == {"capture_id": CAPTURE}
    assert lookup.call_count == 1


def dispute(status: str, outcome: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "dispute_id": "PP-D-27803",
        "create_time": "2026-11-28T07:00:00.000Z",
        "update_time": "2026-11-28T07:00:00.000Z",
        "disputed_transactions": [
            {
                "seller_transaction_id": CAPTURE,
                "seller": {"merchant_id": "RD465XN5VS364"},
                "seller_protection_eligible": True,
            }
        ],
        "reason": "MERCHANDISE_OR_SERVICE_NOT_RECEIVED",
        "status": status,
        "dispute_amount": amount("19.99"),
        "seller_response_due_date": "2026-12-08T07:00:00.000Z",
        "dispute_life_cycle_stage": "INQUIRY",
        "dispute_channel": "INTERNAL",
        "links": links(("self", f"{SANDBOX}/v1/customer/disputes/PP-D-27803")),
    }
    if outcome:
        body["dispute_outcome"] = {"outcome_code": outcome, "amount_refunded": amount("19.99")}
    return body


@pytest.mark.parametrize(
    ("event_type", "resource", "kind", "outcome"),
    [
        ("CUSTOMER.DISPUTE.CREATED", dispute("OPEN"), WebhookKind.DISPUTE_OPENED, None),
        (
            "CUSTOMER.DISPUTE.UPDATED",
            dispute("WAITING_FOR_SELLER_RESPONSE"),
            WebhookKind.DISPUTE_UPDATED,
            None,
        ),
        (
            "CUSTOMER.DISPUTE.RESOLVED",
            dispute("RESOLVED", "RESOLVED_BUYER_FAVOUR"),
            WebhookKind.DISPUTE_CLOSED,
            "lost",
        ),
        (
            "CUSTOMER.DISPUTE.RESOLVED",
            dispute("RESOLVED", "RESOLVED_SELLER_FAVOUR"),
            WebhookKind.DISPUTE_CLOSED,
            "won",
        ),
    ],
)
async def test_dispute_webhooks(
    paypal: PayPalProvider,
    api: respx.MockRouter,
    event_type: str,
    resource: dict[str, Any],
    kind: WebhookKind,
    outcome: str | None,
) -> None:
    verify(api)
    api.get(f"{SANDBOX}/v2/payments/captures/{CAPTURE}").mock(
        return_value=httpx.Response(200, json=capture_body())
    )
    event = paypal_event(event_type, resource, "dispute")
    parsed = await paypal.parse_webhook(json.dumps(event).encode(), HEADERS)
    assert parsed.kind is kind
    assert parsed.reference == ORDER
    assert parsed.dispute is not None
    assert parsed.dispute.reference == "PP-D-27803"
    assert (parsed.dispute.amount_minor, parsed.dispute.currency) == (1999, "EUR")
    assert parsed.dispute.evidence_due_by == datetime(2026, 12, 8, 7, 0, tzinfo=UTC)
    assert parsed.dispute.outcome == outcome
