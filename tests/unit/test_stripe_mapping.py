"""Stripe answers in our words: PaymentIntent statuses (Stripe's documented objects,
https://docs.stripe.com/api/payment_intents/object), refunds, amounts, error classes.

The 402 CardError path uses respx on the HTTPX client the real `stripe` SDK uses: stripe-mock
(tests/integration/payment_providers) cannot produce a decline, and this is the only place
Stripe's HTTP is mocked. The 402 body is Stripe's documented card error
(https://docs.stripe.com/api/errors, https://docs.stripe.com/declines/codes).
"""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
import respx
import stripe

from kommerce.money import Money
from services.payment.providers.base import (
    AuthorizeRequest,
    CardDeclined,
    InvalidProviderRequest,
    Outcome,
    TransientProviderError,
)
from services.payment.providers.stripe import (
    StripeProvider,
    _classify,
    from_stripe_amount,
    payment_from_intent,
    refund_from_object,
    to_stripe_amount,
)

pytestmark = [
    pytest.mark.unit,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]

API = "https://stripe.test"

INTENT: dict[str, Any] = {
    "id": "pi_3MtwBwLkdIwHu7ix28a3tqPa",
    "object": "payment_intent",
    "amount": 2000,
    "amount_capturable": 0,
    "amount_received": 0,
    "capture_method": "manual",
    "client_secret": "pi_3MtwBwLkdIwHu7ix28a3tqPa_secret_YrKJUKribcBjcG8HVhfZluoGH",
    "confirmation_method": "automatic",
    "created": 1680800504,
    "currency": "eur",
    "customer": None,
    "last_payment_error": None,
    "latest_charge": None,
    "livemode": False,
    "metadata": {"payment_id": "pay_1"},
    "next_action": None,
    "payment_method": "pm_1MtwBwLkdIwHu7ixmHNbH4bx",
    "payment_method_types": ["card"],
    "status": "requires_payment_method",
}


def intent(**changes: Any) -> dict[str, Any]:
    value = copy.deepcopy(INTENT)
    value.update(changes)
    return value


def test_requires_capture_is_authorized() -> None:
    p = payment_from_intent(intent(status="requires_capture", amount_capturable=2000), "authorize")
    assert p.outcome is Outcome.AUTHORIZED
    assert (p.amount_minor, p.currency, p.captured_minor) == (2000, "EUR", 0)
    assert p.handle.reference == INTENT["id"]
    assert p.client_secret == INTENT["client_secret"]


def test_succeeded_is_captured() -> None:
    p = payment_from_intent(
        intent(status="succeeded", capture_method="automatic", amount_received=2000), "authorize"
    )
    assert p.outcome is Outcome.CAPTURED
    assert p.captured_minor == 2000
    assert payment_from_intent(intent(status="succeeded"), "capture").outcome is Outcome.CAPTURED


def test_requires_action_passes_next_action_through() -> None:
    redirect = {
        "type": "redirect_to_url",
        "redirect_to_url": {
            "return_url": "https://shop.test/return",
            "url": "https://hooks.stripe.com/3d_secure_2/hosted?merchant=acct_1&payment_intent=pi_1",
        },
    }
    p = payment_from_intent(intent(status="requires_action", next_action=redirect), "authorize")
    assert p.outcome is Outcome.REQUIRES_ACTION
    assert p.next_action == redirect
    sdk = {"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect"}}
    p = payment_from_intent(intent(status="requires_action", next_action=sdk), "retrieve")
    assert p.next_action == sdk


def test_card_error_is_failed_with_the_decline_code() -> None:
    error = {
        "type": "card_error",
        "code": "card_declined",
        "decline_code": "insufficient_funds",
        "message": "Your card has insufficient funds.",
        "payment_method": {"id": "pm_1"},
    }
    p = payment_from_intent(intent(last_payment_error=error), "authorize")
    assert p.outcome is Outcome.FAILED
    assert p.decline_code == "insufficient_funds"
    assert p.decline_message == "Your card has insufficient funds."
    no_decline_code = {k: v for k, v in error.items() if k != "decline_code"}
    assert (
        payment_from_intent(intent(last_payment_error=no_decline_code), "authorize").decline_code
        == "card_declined"
    )


def test_anything_else_is_pending() -> None:
    # stripe-mock's fixture: requires_payment_method with a non-card error
    fixture = intent(last_payment_error={"type": "idempotency_error"})
    assert payment_from_intent(fixture, "authorize").outcome is Outcome.PENDING
    for status in ("processing", "requires_confirmation", "requires_payment_method"):
        assert payment_from_intent(intent(status=status), "retrieve").outcome is Outcome.PENDING


def test_only_outcomes_the_operation_can_lead_to_are_applied() -> None:
    assert payment_from_intent(intent(status="canceled"), "cancel").outcome is Outcome.CANCELLED
    assert payment_from_intent(intent(status="canceled"), "retrieve").outcome is Outcome.CANCELLED
    assert payment_from_intent(intent(status="canceled"), "authorize").outcome is Outcome.PENDING
    assert payment_from_intent(intent(status="requires_capture"), "capture").outcome is (
        Outcome.PENDING
    )
    assert payment_from_intent(intent(status="succeeded"), "cancel").outcome is Outcome.PENDING


def test_refund_statuses() -> None:
    base = {"id": "re_1", "object": "refund", "amount": 500, "currency": "jpy"}
    assert refund_from_object({**base, "status": "succeeded"}).status == "succeeded"
    assert refund_from_object({**base, "status": "pending"}).status == "pending"
    assert refund_from_object({**base, "status": "requires_action"}).status == "pending"
    assert refund_from_object({**base, "status": "failed"}).status == "failed"
    assert refund_from_object({**base, "status": "canceled"}).status == "failed"
    r = refund_from_object({**base, "status": "succeeded"})
    assert (r.reference, r.amount_minor, r.currency) == ("re_1", 500, "JPY")


@pytest.mark.parametrize(
    ("minor", "currency", "stripe_amount"),
    [
        (1999, "EUR", 1999),
        (5000, "JPY", 5000),
        (12340, "KWD", 12340),
        (500, "ISK", 50000),  # ISO zero-decimal, two-decimal at Stripe (special case)
        (1000, "HUF", 100000),
        (3000, "KRW", 3000),
    ],
)
def test_stripe_amount_units(minor: int, currency: str, stripe_amount: int) -> None:
    assert to_stripe_amount(minor, currency) == stripe_amount
    assert from_stripe_amount(stripe_amount, currency) == minor


def test_three_decimal_amounts_must_end_in_zero() -> None:
    with pytest.raises(InvalidProviderRequest, match="nearest ten"):
        to_stripe_amount(12345, "KWD")


def _authorize_request() -> AuthorizeRequest:
    return AuthorizeRequest(
        payment_id="pay_1",
        amount=Money(amount=2000, currency="EUR"),
        payment_method="pm_card_chargeDeclinedInsufficientFunds",
        capture="manual",
        return_url="https://shop.test/return",
    )


def _error(status: int, error: dict[str, Any]) -> httpx.Response:
    return httpx.Response(status, json={"error": error}, headers={"request-id": "req_1"})


@respx.mock
async def test_402_card_error_is_card_declined() -> None:
    """The only respx use for Stripe: stripe-mock never answers 402."""
    declined = {
        "type": "card_error",
        "code": "card_declined",
        "decline_code": "insufficient_funds",
        "message": "Your card has insufficient funds.",
        "param": "",
        "payment_intent": intent(status="requires_payment_method"),
    }
    route = respx.post(f"{API}/v1/payment_intents").mock(return_value=_error(402, declined))
    provider = StripeProvider("sk_test_x", api_base=API)
    try:
        with pytest.raises(CardDeclined) as caught:
            await provider.authorize(_authorize_request(), idempotency_key="pay_1:authorize")
    finally:
        await provider.aclose()
    assert caught.value.code == "insufficient_funds"
    assert caught.value.provider == "stripe"
    assert route.calls.last.request.headers["idempotency-key"] == "pay_1:authorize"
    assert route.call_count == 1  # never retried by the provider


def _json(code: str) -> dict[str, Any]:
    return {"error": {"type": "invalid_request_error", "code": code, "message": code}}


def _sdk_errors() -> list[tuple[stripe.StripeError, type[Exception]]]:
    """The SDK's exception objects as its requestor builds them (some constructors are untyped)."""
    connection: stripe.StripeError = stripe.APIConnectionError("refused")  # type: ignore[no-untyped-call]
    missing: stripe.StripeError = stripe.InvalidRequestError(  # type: ignore[no-untyped-call]
        "No such payment_intent", "id", "resource_missing", None, 404
    )
    card: stripe.StripeError = stripe.CardError(  # type: ignore[no-untyped-call]
        "declined", "", "card_declined", None, 402, {"error": {"decline_code": "stolen_card"}}
    )
    return [
        (connection, TransientProviderError),
        (stripe.RateLimitError("too many", None, 429, _json("rate_limit")), TransientProviderError),
        (stripe.RateLimitError("locked", None, 429, _json("lock_timeout")), TransientProviderError),
        (stripe.APIError("server error", None, 500), TransientProviderError),
        (stripe.APIError("conflict", None, 409), TransientProviderError),
        (missing, InvalidProviderRequest),
        (stripe.AuthenticationError("Invalid API Key", None, 401), InvalidProviderRequest),
        (stripe.PermissionError("forbidden", None, 403), InvalidProviderRequest),
        (stripe.IdempotencyError("key reused", None, 400), InvalidProviderRequest),
        (card, CardDeclined),
    ]


@pytest.mark.parametrize(("error", "expected"), _sdk_errors())
def test_error_classes(error: stripe.StripeError, expected: type[Exception]) -> None:
    """The SDK's own exception objects (as its requestor builds them) → our classes."""
    classified = _classify(error)
    assert type(classified) is expected
    if isinstance(classified, CardDeclined):
        assert classified.code == "stolen_card"
    if "lock_timeout" in str(error.json_body):
        assert classified.code == "lock_timeout"
