"""StripeProvider through the real `stripe` SDK (async, HTTPX) against stripe-mock.

stripe-mock validates every request against Stripe's OpenAPI spec and answers fixture
objects: a PaymentIntent from it always says `requires_payment_method` with a non-card
`last_payment_error`, so by the interpretation rule every synchronous answer is PENDING (the
signed webhook decides; see test_stripe_webhooks.py). What it does echo (amount, currency,
capture_method, payment_method) is asserted; what it does not (metadata, a capture's amount) is
asserted on the request the SDK sent, recorded by an httpx request hook on the provider's own
HTTP client. Declines (402 CardError) cannot come from stripe-mock: see
tests/unit/test_stripe_mapping.py.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from kommerce.money import Money
from services.payment.providers.base import (
    AuthorizeRequest,
    Handle,
    InvalidProviderRequest,
    Outcome,
    TransientProviderError,
)
from services.payment.providers.stripe import StripeProvider
from tests.integration.payment_providers.conftest import API_KEY

pytestmark = [
    pytest.mark.integration,
    # stripe's HTTPXClient posts its form as `data=<str>`, which httpx 0.28 deprecates
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]


class Recorder:
    """Every request the provider's HTTPX client sends (method, path, headers, form)."""

    def __init__(self, provider: StripeProvider) -> None:
        self.requests: list[httpx.Request] = []
        provider._http._client_async.event_hooks["request"].append(self._record)

    async def _record(self, request: httpx.Request) -> None:
        self.requests.append(request)

    def last(self) -> tuple[httpx.Request, dict[str, list[str]]]:
        request = self.requests[-1]
        return request, parse_qs(request.content.decode())


def _request(amount: Money, capture: str = "manual", **extra: Any) -> AuthorizeRequest:
    return AuthorizeRequest(
        payment_id="pay_123",
        amount=amount,
        payment_method="pm_card_visa",
        capture=capture,  # type: ignore[arg-type]
        return_url="https://shop.test/payments/pay_123/return",
        metadata={"order_id": "ord_42"},
        **extra,
    )


async def test_ensure_customer(stripe_provider: StripeProvider) -> None:
    recorder = Recorder(stripe_provider)
    customer = await stripe_provider.ensure_customer(
        "cust-1", email="ada@example.test", idempotency_key="customer:cust-1"
    )
    assert customer.startswith("cus_")
    request, form = recorder.last()
    assert request.url.path == "/v1/customers"
    assert request.headers["idempotency-key"] == "customer:cust-1"
    assert form["metadata[customer_id]"] == ["cust-1"]
    assert form["email"] == ["ada@example.test"]


async def test_attach_payment_method(stripe_provider: StripeProvider) -> None:
    saved = await stripe_provider.attach_payment_method(
        "cus_123", "pm_card_visa", idempotency_key="attach:1"
    )
    assert saved.reference == "pm_card_visa"
    assert (saved.brand, saved.last4) == ("visa", "4242")
    assert isinstance(saved.exp_month, int)
    assert isinstance(saved.exp_year, int)
    assert saved.country == "US"


@pytest.mark.parametrize(("amount", "currency"), [(1999, "EUR"), (5000, "JPY"), (12340, "KWD")])
async def test_authorize_manual_sends_and_echoes_amounts_exactly(
    stripe_provider: StripeProvider, amount: int, currency: str
) -> None:
    recorder = Recorder(stripe_provider)
    payment = await stripe_provider.authorize(
        _request(Money(amount=amount, currency=currency), provider_customer="cus_123"),
        idempotency_key=f"pay_123:authorize:{currency}",
    )
    assert payment.outcome is Outcome.PENDING  # fixture status: the webhook decides
    assert payment.raw_status == "requires_payment_method"
    assert payment.handle.reference.startswith("pi_")
    assert payment.handle.data == {"currency": currency}
    assert (payment.amount_minor, payment.currency) == (amount, currency)
    assert payment.client_secret
    assert payment.client_secret.startswith("pi_")
    assert payment.next_action is None
    assert payment.decline_code is None
    request, form = recorder.last()
    assert request.url.path == "/v1/payment_intents"
    assert request.headers["idempotency-key"] == f"pay_123:authorize:{currency}"
    assert form["amount"] == [str(amount)]  # Stripe's units = ISO minor units for these three
    assert form["currency"] == [currency.lower()]
    assert form["confirm"] == ["true"]
    assert form["capture_method"] == ["manual"]
    assert form["customer"] == ["cus_123"]
    assert form["metadata[order_id]"] == ["ord_42"]
    assert form["metadata[payment_id]"] == ["pay_123"]
    assert form["return_url"] == ["https://shop.test/payments/pay_123/return"]


async def test_authorize_echo_from_stripe_mock(stripe_provider: StripeProvider) -> None:
    """What stripe-mock itself reflects back from the request."""
    seen: list[dict[str, Any]] = []
    service = stripe_provider._client.v1.payment_intents
    original = service.create_async

    async def spy(*args: Any, **kwargs: Any) -> Any:
        intent = await original(*args, **kwargs)
        seen.append(intent.to_dict())
        return intent

    service.create_async = spy  # type: ignore[method-assign]
    for capture in ("manual", "automatic"):
        await stripe_provider.authorize(
            _request(Money(amount=250, currency="EUR"), capture),
            idempotency_key=f"k-{capture}",
        )
    assert [(i["amount"], i["currency"], i["capture_method"]) for i in seen] == [
        (250, "eur", "manual"),
        (250, "eur", "automatic"),
    ]
    assert {i["payment_method"] for i in seen} == {"pm_card_visa"}
    assert {i["object"] for i in seen} == {"payment_intent"}


async def test_retrieve(stripe_provider: StripeProvider) -> None:
    payment = await stripe_provider.retrieve(Handle("pi_retrieve123"))
    assert payment.handle.reference == "pi_retrieve123"
    assert payment.outcome is Outcome.PENDING


async def test_capture_full_and_partial(stripe_provider: StripeProvider) -> None:
    recorder = Recorder(stripe_provider)
    handle = Handle("pi_cap123", {"currency": "EUR"})
    full = await stripe_provider.capture(handle, None, idempotency_key="pay_1:capture")
    assert full.handle.reference == "pi_cap123"
    assert full.outcome is Outcome.PENDING  # capture → only `succeeded` is applied
    request, form = recorder.last()
    assert request.url.path == "/v1/payment_intents/pi_cap123/capture"
    assert "amount_to_capture" not in form
    await stripe_provider.capture(handle, 700, idempotency_key="pay_1:capture:700")
    request, form = recorder.last()
    assert form["amount_to_capture"] == ["700"]
    assert request.headers["idempotency-key"] == "pay_1:capture:700"


async def test_cancel(stripe_provider: StripeProvider) -> None:
    recorder = Recorder(stripe_provider)
    payment = await stripe_provider.cancel(Handle("pi_can123"), idempotency_key="pay_1:cancel")
    assert payment.handle.reference == "pi_can123"
    assert payment.outcome is Outcome.PENDING
    request, _ = recorder.last()
    assert request.url.path == "/v1/payment_intents/pi_can123/cancel"
    assert request.headers["idempotency-key"] == "pay_1:cancel"


@pytest.mark.parametrize(("amount", "currency"), [(300, "EUR"), (1000, "JPY"), (1230, "KWD")])
async def test_refund(stripe_provider: StripeProvider, amount: int, currency: str) -> None:
    recorder = Recorder(stripe_provider)
    refund = await stripe_provider.refund(
        Handle("pi_ref123"),
        Money(amount=amount, currency=currency),
        idempotency_key="pay_1:refund:1",
        reason="requested_by_customer",
    )
    assert refund.reference.startswith("re_")
    assert refund.status == "succeeded"
    assert refund.amount_minor == amount  # echoed (the fixture's currency is always usd)
    request, form = recorder.last()
    assert request.url.path == "/v1/refunds"
    assert form["payment_intent"] == ["pi_ref123"]
    assert form["amount"] == [str(amount)]
    assert form["reason"] == ["requested_by_customer"]


async def test_refund_free_text_reason_goes_to_metadata(stripe_provider: StripeProvider) -> None:
    recorder = Recorder(stripe_provider)
    await stripe_provider.refund(
        Handle("pi_ref123"), Money(amount=100, currency="EUR"), idempotency_key="k", reason="late"
    )
    _, form = recorder.last()
    assert "reason" not in form
    assert form["metadata[reason]"] == ["late"]


async def test_request_rejected_by_stripe_mock_is_invalid(stripe_provider: StripeProvider) -> None:
    with pytest.raises(InvalidProviderRequest) as caught:
        await stripe_provider.capture(
            Handle("pi_bad"),
            12.5,  # type: ignore[arg-type]  # a float: stripe-mock's schema check refuses it
            idempotency_key="k",
        )
    assert "amount_to_capture" in caught.value.message


async def test_amounts_refused_before_the_call(stripe_provider: StripeProvider) -> None:
    recorder = Recorder(stripe_provider)
    with pytest.raises(InvalidProviderRequest, match="positive"):
        await stripe_provider.authorize(
            _request(Money(amount=-5, currency="EUR")), idempotency_key="k"
        )
    with pytest.raises(InvalidProviderRequest, match="nearest ten"):
        await stripe_provider.authorize(
            _request(Money(amount=12345, currency="KWD")), idempotency_key="k"
        )
    assert recorder.requests == []


async def test_unreachable_api_is_transient() -> None:
    provider = StripeProvider(API_KEY, api_base="http://127.0.0.1:9", timeout=2.0)
    try:
        with pytest.raises(TransientProviderError):
            await provider.retrieve(Handle("pi_123"))
    finally:
        await provider.aclose()
