"""services.payment.gateway: retries of transient errors only (same key) and the breaker.

The provider is a small fake of OUR `PaymentProvider` protocol that raises queued errors; the
real providers are tested against stripe-mock (and PayPal's documented shapes) elsewhere.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kommerce.money import Money
from kommerce.resilience import BreakerState
from services.payment.gateway import Gateway, provider_breaker
from services.payment.providers.base import (
    AuthorizeRequest,
    CardDeclined,
    Handle,
    InvalidProviderRequest,
    Outcome,
    PaymentProvider,
    ProviderError,
    ProviderPayment,
    ProviderRefund,
    ProviderUnavailable,
    SavedMethod,
    TransientProviderError,
    WebhookEvent,
    WebhookKind,
)

pytestmark = pytest.mark.unit

REQUEST = AuthorizeRequest(
    payment_id="pay_1",
    amount=Money(amount=1999, currency="EUR"),
    payment_method="pm_card_visa",
    capture="manual",
    return_url="https://shop.example/return",
)


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeProvider:
    """Records every call (operation, idempotency key) and raises the queued errors first."""

    name = "fake"

    def __init__(self, *errors: ProviderError) -> None:
        self.errors = list(errors)
        self.calls: list[tuple[str, str | None]] = []

    def _call(self, operation: str, key: str | None) -> None:
        self.calls.append((operation, key))
        if self.errors:
            raise self.errors.pop(0)

    def _payment(self, outcome: Outcome) -> ProviderPayment:
        return ProviderPayment(Handle("pi_1"), outcome, outcome.value, 1999, "EUR")

    async def ensure_customer(
        self, customer_id: str, *, email: str | None, idempotency_key: str
    ) -> str:
        self._call("ensure_customer", idempotency_key)
        return "cus_1"

    async def attach_payment_method(
        self, provider_customer: str, payment_method: str, *, idempotency_key: str
    ) -> SavedMethod:
        self._call("attach_payment_method", idempotency_key)
        return SavedMethod(payment_method, "visa", "4242", 12, 2030)

    async def authorize(
        self, request: AuthorizeRequest, *, idempotency_key: str
    ) -> ProviderPayment:
        self._call("authorize", idempotency_key)
        return self._payment(Outcome.AUTHORIZED)

    async def retrieve(self, handle: Handle) -> ProviderPayment:
        self._call("retrieve", None)
        return self._payment(Outcome.AUTHORIZED)

    async def capture(
        self, handle: Handle, amount_minor: int | None, *, idempotency_key: str
    ) -> ProviderPayment:
        self._call("capture", idempotency_key)
        return self._payment(Outcome.CAPTURED)

    async def cancel(self, handle: Handle, *, idempotency_key: str) -> ProviderPayment:
        self._call("cancel", idempotency_key)
        return self._payment(Outcome.CANCELLED)

    async def refund(
        self, handle: Handle, amount: Money, *, idempotency_key: str, reason: str | None = None
    ) -> ProviderRefund:
        self._call("refund", idempotency_key)
        return ProviderRefund("re_1", "succeeded", amount.amount, amount.currency)

    async def parse_webhook(self, payload: bytes, headers: dict[str, str]) -> WebhookEvent:
        self._call("parse_webhook", None)
        return WebhookEvent("fake", "evt_1", "x", WebhookKind.IGNORED, datetime.now(UTC), None)

    async def aclose(self) -> None:
        self._call("aclose", None)


def transient() -> TransientProviderError:
    return TransientProviderError("fake", "503 from the provider", code="503")


def gateway(
    provider: FakeProvider, *, attempts: int = 3, threshold: int = 5, clock: Clock | None = None
) -> Gateway:
    breaker = provider_breaker(
        "fake", failures=threshold, reset_seconds=30.0, clock=clock or Clock()
    )

    async def no_sleep(seconds: float) -> None:
        pass

    return Gateway(provider, breaker, attempts, sleep=no_sleep)


def test_gateway_is_a_payment_provider() -> None:
    provider: PaymentProvider = gateway(FakeProvider())
    assert provider.name == "fake"


async def test_transient_errors_are_retried_with_the_same_key() -> None:
    provider = FakeProvider(transient(), transient())
    payment = await gateway(provider).authorize(REQUEST, idempotency_key="pay_1:authorize")
    assert payment.outcome is Outcome.AUTHORIZED
    assert provider.calls == [("authorize", "pay_1:authorize")] * 3


async def test_transient_errors_give_up_after_attempts() -> None:
    provider = FakeProvider(*(transient() for _ in range(5)))
    with pytest.raises(TransientProviderError):
        await gateway(provider, attempts=3).capture(Handle("pi_1"), None, idempotency_key="k")
    assert len(provider.calls) == 3


@pytest.mark.parametrize(
    "error",
    [
        CardDeclined("fake", "Your card was declined.", code="insufficient_funds"),
        InvalidProviderRequest("fake", "No such payment_method", code="resource_missing"),
    ],
)
async def test_declines_and_invalid_requests_are_not_retried(error: ProviderError) -> None:
    provider = FakeProvider(error)
    gw = gateway(provider, threshold=1)
    with pytest.raises(type(error)):
        await gw.authorize(REQUEST, idempotency_key="pay_1:authorize")
    assert len(provider.calls) == 1
    assert gw.breaker.state is BreakerState.CLOSED  # the provider answered


async def test_breaker_opens_on_repeated_transient_failures_then_fails_fast() -> None:
    clock = Clock()
    provider = FakeProvider(*(transient() for _ in range(4)))
    gw = gateway(provider, attempts=3, threshold=4, clock=clock)
    with pytest.raises(TransientProviderError):  # 3 attempts, 3 counted failures
        await gw.cancel(Handle("pi_1"), idempotency_key="pay_1:void")
    with pytest.raises(ProviderUnavailable) as caught:  # 4th failure opens it mid-retry
        await gw.cancel(Handle("pi_1"), idempotency_key="pay_1:void")
    assert caught.value.code == "circuit_open"
    assert len(provider.calls) == 4
    with pytest.raises(ProviderUnavailable):  # fails fast: the provider is not called
        await gw.refund(Handle("pi_1"), Money(amount=100, currency="EUR"), idempotency_key="r")
    assert len(provider.calls) == 4
    clock.now += 30  # half-open: the trial goes through and closes it
    refund = await gw.refund(Handle("pi_1"), Money(amount=100, currency="EUR"), idempotency_key="r")
    assert refund.status == "succeeded"
    assert gw.breaker.state is BreakerState.CLOSED


async def test_every_operation_passes_through() -> None:
    provider = FakeProvider()
    gw = gateway(provider)
    handle = Handle("pi_1")
    assert await gw.ensure_customer("u1", email=None, idempotency_key="c") == "cus_1"
    assert (await gw.attach_payment_method("cus_1", "pm_1", idempotency_key="a")).last4 == "4242"
    assert (await gw.retrieve(handle)).outcome is Outcome.AUTHORIZED
    assert (await gw.capture(handle, 500, idempotency_key="cap")).outcome is Outcome.CAPTURED
    assert (await gw.parse_webhook(b"{}", {})).kind is WebhookKind.IGNORED
    await gw.aclose()
    assert [op for op, _ in provider.calls] == [
        "ensure_customer",
        "attach_payment_method",
        "retrieve",
        "capture",
        "parse_webhook",
        "aclose",
    ]


async def test_webhook_parsing_is_not_guarded() -> None:
    clock = Clock()
    provider = FakeProvider(transient())
    gw = gateway(provider, attempts=1, threshold=1, clock=clock)
    with pytest.raises(TransientProviderError):
        await gw.retrieve(Handle("pi_1"))
    assert gw.breaker.state is BreakerState.OPEN
    assert (await gw.parse_webhook(b"{}", {})).event_id == "evt_1"


def test_long_idempotency_keys_become_a_stable_digest() -> None:
    """Stripe takes keys up to 255 characters and PayPal-Request-Id up to 108; ours carry the
    caller's own key (up to 255), so long ones are replaced by their digest — the same key,
    the same digest, so a retry still means the same request."""
    from services.payment.gateway import bounded

    short = "order:3f1c:authorize"
    assert bounded(short) == short
    long = "api:" + "u" * 36 + ":" + "k" * 255
    assert bounded(long) == bounded(long)
    assert bounded(long) != bounded(long + "x")
    assert bounded(long).startswith("sha256-")
    assert len(bounded(long)) <= 100
