"""The provider-neutral interface every payment provider implements, and its vocabulary.

A provider turns our requests into its API calls and its answers (and its webhooks) into
`ProviderPayment`, `ProviderRefund` and `WebhookEvent`. It raises the classified errors below
and never retries on its own: retries with backoff and the circuit breaker wrap any provider
(services/payment/gateway.py). Card data never reaches a provider module: only the provider's
tokens and ids (a Stripe `pm_...`, a PayPal order id) pass through.

Interpreting a synchronous answer: it is applied only when it is an outcome the operation can
lead to; anything else is `PENDING` and the provider's signed webhook decides (stripe-mock,
which answers fixtures, always lands there).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, Protocol

from kommerce.money import Money


class Outcome(StrEnum):
    """What a provider says about a payment, in our words."""

    REQUIRES_ACTION = "requires_action"  # the shopper must act (3-D Secure, PayPal approval)
    AUTHORIZED = "authorized"  # funds held, capturable
    CAPTURED = "captured"
    CANCELLED = "cancelled"
    FAILED = "failed"  # declined
    PENDING = "pending"  # not decided yet: the webhook will say


class ProviderError(Exception):
    """A provider call failed. `code` is the provider's error code when it gave one."""

    def __init__(self, provider: str, message: str, *, code: str | None = None) -> None:
        self.provider = provider
        self.code = code
        self.message = message
        super().__init__(f"{provider}: {message}" + (f" ({code})" if code else ""))


class CardDeclined(ProviderError):
    """The card (or account) was declined: never retried. `code` is the decline code."""


class TransientProviderError(ProviderError):
    """Connection error, timeout, 429, 5xx or a lock timeout: safe to retry (same key)."""


class InvalidProviderRequest(ProviderError):
    """The provider refused the request itself (another 4xx): not retried."""


class ProviderUnavailable(ProviderError):
    """The circuit breaker is open: the call was not made."""


@dataclass(frozen=True)
class Handle:
    """Our record of a payment at the provider: its reference (Stripe `pi_...`, PayPal order
    id) and the other ids later calls need (PayPal's authorization and capture ids)."""

    reference: str
    data: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AuthorizeRequest:
    payment_id: str  # ours; also the base of the idempotency keys
    amount: Money
    payment_method: str  # a provider token (Stripe pm_..., PayPal: "paypal")
    capture: Literal["manual", "automatic"]
    return_url: str  # where the shopper comes back after 3-D Secure / approval
    provider_customer: str | None = None
    description: str = ""
    metadata: dict[str, str] = field(default_factory=dict)  # order_id, payment_id


@dataclass(frozen=True)
class ProviderPayment:
    handle: Handle
    outcome: Outcome
    raw_status: str  # the provider's own status word, for the history
    amount_minor: int
    currency: str
    captured_minor: int = 0
    next_action: dict[str, Any] | None = None  # for REQUIRES_ACTION: what the client must do
    client_secret: str | None = None
    decline_code: str | None = None
    decline_message: str | None = None


@dataclass(frozen=True)
class ProviderRefund:
    reference: str  # re_..., PayPal refund id
    status: Literal["succeeded", "pending", "failed"]
    amount_minor: int
    currency: str


@dataclass(frozen=True)
class SavedMethod:
    """A payment method attached to a customer: what may be shown, never the card number."""

    reference: str
    brand: str
    last4: str
    exp_month: int | None
    exp_year: int | None
    country: str | None = None  # the card's issuing country (fraud: country mismatch)


class WebhookKind(StrEnum):
    REQUIRES_ACTION = "requires_action"
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REFUND_UPDATED = "refund_updated"
    DISPUTE_OPENED = "dispute_opened"
    DISPUTE_UPDATED = "dispute_updated"
    DISPUTE_CLOSED = "dispute_closed"
    IGNORED = "ignored"  # verified, but of a type we do not act on


@dataclass(frozen=True)
class WebhookEvent:
    """A verified provider event in our words."""

    provider: str
    event_id: str  # the provider's event id (dedupe key)
    raw_type: str  # e.g. payment_intent.succeeded, PAYMENT.CAPTURE.COMPLETED
    kind: WebhookKind
    occurred_at: datetime
    reference: str | None  # the payment's provider reference (pi_..., PayPal order id)
    amount_minor: int | None = None
    currency: str | None = None
    decline_code: str | None = None
    decline_message: str | None = None
    next_action: dict[str, Any] | None = None
    handle_data: dict[str, str] = field(default_factory=dict)  # ids to remember (capture id)
    refund: ProviderRefund | None = None
    dispute: DisputeInfo | None = None


@dataclass(frozen=True)
class DisputeInfo:
    reference: str  # dp_..., PayPal dispute id
    amount_minor: int
    currency: str
    reason: str
    status: str  # the provider's word (needs_response, won, lost, ...)
    evidence_due_by: datetime | None
    outcome: Literal["won", "lost"] | None = None  # when closed


class InvalidWebhook(Exception):
    """A webhook that failed verification (bad signature, old timestamp, not JSON, unknown
    shape). The endpoint answers 400 and applies nothing."""


class PaymentProvider(Protocol):
    name: str

    async def ensure_customer(
        self, customer_id: str, *, email: str | None, idempotency_key: str
    ) -> str:
        """The provider's customer id for our customer (created once)."""
        ...

    async def attach_payment_method(
        self, provider_customer: str, payment_method: str, *, idempotency_key: str
    ) -> SavedMethod: ...

    async def authorize(
        self, request: AuthorizeRequest, *, idempotency_key: str
    ) -> ProviderPayment: ...

    async def retrieve(self, handle: Handle) -> ProviderPayment:
        """The payment as the provider sees it now (after the shopper's 3-D Secure return)."""
        ...

    async def capture(
        self, handle: Handle, amount_minor: int | None, *, idempotency_key: str
    ) -> ProviderPayment: ...

    async def cancel(self, handle: Handle, *, idempotency_key: str) -> ProviderPayment: ...

    async def refund(
        self, handle: Handle, amount: Money, *, idempotency_key: str, reason: str | None = None
    ) -> ProviderRefund: ...

    async def parse_webhook(self, payload: bytes, headers: dict[str, str]) -> WebhookEvent:
        """Verify and translate one webhook delivery, or raise InvalidWebhook."""
        ...

    async def aclose(self) -> None:
        """Release the HTTP client."""
        ...
