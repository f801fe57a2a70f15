"""Stripe through the official SDK (16.x), asynchronously (`stripe.HTTPXClient`).

Customers, PaymentMethods attached to them, PaymentIntents confirmed at creation (manual or
automatic capture), captures, cancellations and refunds, and signed webhooks verified with
`stripe.Webhook.construct_event`. Only Stripe ids and tokens (`cus_`, `pm_`, `pi_`, `re_`)
pass through here: card data is entered in Stripe Elements and never reaches our servers.

Amounts: ours are ISO 4217 minor units (CLDR exponents, `kommerce.money`); Stripe's are the
currency's "smallest unit" by Stripe's own rules, which differ for a few currencies
(https://docs.stripe.com/currencies#zero-decimal, #three-decimal, #special-cases): Stripe's
zero-decimal list, its three-decimal list (whose last digit must be 0), and two decimals for
everything else (ISK, HUF, COP, IDR... are zero-decimal in ISO but two-decimal at Stripe).
`to_stripe_amount`/`from_stripe_amount` convert exactly or refuse.

Errors are classified, never retried here (services/payment/gateway.py retries):
CardError → CardDeclined; connection errors, 429 (incl. `lock_timeout`), 409 and 5xx →
TransientProviderError; every other StripeError → InvalidProviderRequest.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal, NoReturn

import stripe

from kommerce.money import Money, exponent
from services.payment.providers.base import (
    AuthorizeRequest,
    CardDeclined,
    DisputeInfo,
    Handle,
    InvalidProviderRequest,
    InvalidWebhook,
    Outcome,
    ProviderError,
    ProviderPayment,
    ProviderRefund,
    SavedMethod,
    TransientProviderError,
    WebhookEvent,
    WebhookKind,
)

NAME = "stripe"

# https://docs.stripe.com/currencies#zero-decimal
STRIPE_ZERO_DECIMAL = frozenset(
    [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    ]
)
# https://docs.stripe.com/currencies#three-decimal (amounts must end in 0)
STRIPE_THREE_DECIMAL = frozenset(["BHD", "JOD", "KWD", "OMR", "TND"])
# https://docs.stripe.com/api/refunds/create#create_refund-reason
STRIPE_REFUND_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer"})

Operation = Literal["authorize", "retrieve", "capture", "cancel"]
# What each operation can lead to; any other status it answers with is PENDING (the webhook
# decides). stripe-mock's fixture intents (requires_payment_method without a card error)
# therefore read as PENDING.
_REACHABLE: dict[Operation, frozenset[Outcome]] = {
    "authorize": frozenset(
        {Outcome.REQUIRES_ACTION, Outcome.AUTHORIZED, Outcome.CAPTURED, Outcome.FAILED}
    ),
    "retrieve": frozenset(Outcome),
    "capture": frozenset({Outcome.CAPTURED}),
    "cancel": frozenset({Outcome.CANCELLED}),
}


def stripe_exponent(currency: str) -> int:
    code = currency.upper()
    if code in STRIPE_ZERO_DECIMAL:
        return 0
    if code in STRIPE_THREE_DECIMAL:
        return 3
    return 2


def to_stripe_amount(amount_minor: int, currency: str) -> int:
    """Our ISO minor units → Stripe's amount integer, exactly, or InvalidProviderRequest."""
    code = currency.upper()
    shift = stripe_exponent(code) - exponent(code)
    if shift >= 0:
        value = amount_minor * int(10**shift)
    else:
        value, rest = divmod(amount_minor, 10**-shift)
        if rest:
            raise InvalidProviderRequest(
                NAME, f"{amount_minor} minor units of {code} cannot be expressed at Stripe"
            )
    if code in STRIPE_THREE_DECIMAL and value % 10:
        raise InvalidProviderRequest(
            NAME, f"Stripe needs {code} amounts rounded to the nearest ten (got {value})"
        )
    return value


def from_stripe_amount(value: int, currency: str) -> int:
    """Stripe's amount integer → our ISO minor units."""
    code = currency.upper()
    shift = stripe_exponent(code) - exponent(code)
    return value * int(10**-shift) if shift <= 0 else value // int(10**shift)


def _classify(exc: stripe.StripeError) -> ProviderError:
    code = exc.code or (exc.error.code if exc.error is not None else None)
    message = exc.user_message or str(exc) or type(exc).__name__
    if isinstance(exc, stripe.CardError):
        decline = exc.error.decline_code if exc.error is not None else None
        return CardDeclined(NAME, message, code=decline or code)
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError):
        return TransientProviderError(NAME, message, code=code)
    if code == "lock_timeout":
        return TransientProviderError(NAME, message, code=code)
    status = exc.http_status
    if isinstance(exc, stripe.APIError) and (status is None or status >= 500 or status == 409):
        return TransientProviderError(NAME, message, code=code)
    if status is not None and status >= 500:
        return TransientProviderError(NAME, message, code=code)
    return InvalidProviderRequest(NAME, message, code=code)


def _raise(exc: stripe.StripeError) -> NoReturn:
    raise _classify(exc) from exc


def _outcome_of(intent: dict[str, Any]) -> Outcome:
    status = intent.get("status")
    error = intent.get("last_payment_error") or {}
    if status == "requires_capture":
        return Outcome.AUTHORIZED
    if status == "succeeded":
        return Outcome.CAPTURED
    if status == "requires_action":
        return Outcome.REQUIRES_ACTION
    if status == "canceled":
        return Outcome.CANCELLED
    if status == "requires_payment_method" and error.get("type") == "card_error":
        return Outcome.FAILED
    return Outcome.PENDING


def payment_from_intent(intent: dict[str, Any], operation: Operation) -> ProviderPayment:
    """A PaymentIntent (as a plain dict) in our words, per the interpretation rule."""
    outcome = _outcome_of(intent)
    if outcome not in _REACHABLE[operation]:
        outcome = Outcome.PENDING
    currency = str(intent["currency"]).upper()
    error = intent.get("last_payment_error") or {}
    failed = outcome is Outcome.FAILED
    return ProviderPayment(
        handle=Handle(reference=str(intent["id"]), data={"currency": currency}),
        outcome=outcome,
        raw_status=str(intent.get("status")),
        amount_minor=from_stripe_amount(int(intent["amount"]), currency),
        currency=currency,
        captured_minor=from_stripe_amount(int(intent.get("amount_received") or 0), currency),
        next_action=intent.get("next_action") if outcome is Outcome.REQUIRES_ACTION else None,
        client_secret=intent.get("client_secret"),
        decline_code=(error.get("decline_code") or error.get("code")) if failed else None,
        decline_message=error.get("message") if failed else None,
    )


def refund_from_object(refund: dict[str, Any]) -> ProviderRefund:
    currency = str(refund["currency"]).upper()
    raw = refund.get("status")
    status: Literal["succeeded", "pending", "failed"]
    if raw == "succeeded":
        status = "succeeded"
    elif raw in ("failed", "canceled"):
        status = "failed"
    else:  # pending, requires_action
        status = "pending"
    return ProviderRefund(
        reference=str(refund["id"]),
        status=status,
        amount_minor=from_stripe_amount(int(refund["amount"]), currency),
        currency=currency,
    )


def _timestamp(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value is not None else None


def dispute_from_object(dispute: dict[str, Any]) -> DisputeInfo:
    currency = str(dispute["currency"]).upper()
    status = str(dispute["status"])
    outcome: Literal["won", "lost"] | None = None
    if status in ("won", "warning_closed"):  # warning_closed: an inquiry that went no further
        outcome = "won"
    elif status == "lost":
        outcome = "lost"
    evidence = dispute.get("evidence_details") or {}
    return DisputeInfo(
        reference=str(dispute["id"]),
        amount_minor=from_stripe_amount(int(dispute["amount"]), currency),
        currency=currency,
        reason=str(dispute.get("reason") or "general"),
        status=status,
        evidence_due_by=_timestamp(evidence.get("due_by")),
        outcome=outcome,
    )


_INTENT_EVENTS: dict[str, WebhookKind] = {
    "payment_intent.requires_action": WebhookKind.REQUIRES_ACTION,
    "payment_intent.amount_capturable_updated": WebhookKind.AUTHORIZED,
    "payment_intent.succeeded": WebhookKind.CAPTURED,
    "payment_intent.payment_failed": WebhookKind.FAILED,
    "payment_intent.canceled": WebhookKind.CANCELLED,
}
_REFUND_EVENTS = frozenset(
    {"refund.created", "refund.updated", "refund.failed", "charge.refund.updated"}
)
_DISPUTE_EVENTS: dict[str, WebhookKind] = {
    "charge.dispute.created": WebhookKind.DISPUTE_OPENED,
    "charge.dispute.updated": WebhookKind.DISPUTE_UPDATED,
    "charge.dispute.closed": WebhookKind.DISPUTE_CLOSED,
}


def event_from_dict(event: dict[str, Any]) -> WebhookEvent:
    """A verified Stripe event (plain dict) in our words; KeyError/TypeError/ValueError on an
    unexpected shape."""
    kind_name = str(event["type"])
    obj: dict[str, Any] = event["data"]["object"]
    common: dict[str, Any] = {
        "provider": NAME,
        "event_id": str(event["id"]),
        "raw_type": kind_name,
        "occurred_at": datetime.fromtimestamp(int(event["created"]), UTC),
    }
    if kind_name in _INTENT_EVENTS:
        kind = _INTENT_EVENTS[kind_name]
        currency = str(obj["currency"]).upper()
        if kind is WebhookKind.AUTHORIZED:
            value = obj.get("amount_capturable") or obj["amount"]
        elif kind is WebhookKind.CAPTURED:
            value = obj.get("amount_received") or obj["amount"]
        else:
            value = obj["amount"]
        error = obj.get("last_payment_error") or {}
        failed = kind is WebhookKind.FAILED
        return WebhookEvent(
            **common,
            kind=kind,
            reference=str(obj["id"]),
            amount_minor=from_stripe_amount(int(value), currency),
            currency=currency,
            decline_code=(error.get("decline_code") or error.get("code")) if failed else None,
            decline_message=error.get("message") if failed else None,
            next_action=obj.get("next_action") if kind is WebhookKind.REQUIRES_ACTION else None,
        )
    if kind_name in _REFUND_EVENTS:
        refund = refund_from_object(obj)
        return WebhookEvent(
            **common,
            kind=WebhookKind.REFUND_UPDATED,
            reference=obj.get("payment_intent"),
            amount_minor=refund.amount_minor,
            currency=refund.currency,
            refund=refund,
        )
    if kind_name in _DISPUTE_EVENTS:
        dispute = dispute_from_object(obj)
        return WebhookEvent(
            **common,
            kind=_DISPUTE_EVENTS[kind_name],
            reference=obj.get("payment_intent"),
            amount_minor=dispute.amount_minor,
            currency=dispute.currency,
            dispute=dispute,
        )
    reference = obj.get("payment_intent") if isinstance(obj, dict) else None
    if isinstance(obj, dict) and obj.get("object") == "payment_intent":
        reference = obj.get("id")
    return WebhookEvent(
        **common,
        kind=WebhookKind.IGNORED,
        reference=str(reference) if reference else None,
    )


class StripeProvider:
    """The `PaymentProvider` for Stripe. `api_base` None = api.stripe.com (stripe-mock in
    tests); `webhook_secrets` are the endpoint's signing secrets, the newest first (during a
    rotation both the old and the new one are accepted)."""

    name = NAME

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str | None = None,
        webhook_secrets: Sequence[str] = (),
        webhook_tolerance_seconds: int = 300,
        timeout: float = 10.0,
    ) -> None:
        self._http = stripe.HTTPXClient(timeout=timeout)
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            http_client=self._http,
            max_network_retries=0,
        )
        self._webhook_secrets = [s for s in webhook_secrets if s]
        self._tolerance = webhook_tolerance_seconds

    async def aclose(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]

    # --- customers and payment methods ---------------------------------------------------

    async def ensure_customer(
        self, customer_id: str, *, email: str | None, idempotency_key: str
    ) -> str:
        """Creates the Stripe Customer; the idempotency key (derived from our customer id)
        makes a repeated call answer the same `cus_...` within Stripe's 24 h key window; the
        caller stores it and does not call again."""
        params: dict[str, Any] = {"metadata": {"customer_id": customer_id}}
        if email:
            params["email"] = email
        try:
            customer = await self._client.v1.customers.create_async(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            _raise(exc)
        return str(customer.id)

    async def attach_payment_method(
        self, provider_customer: str, payment_method: str, *, idempotency_key: str
    ) -> SavedMethod:
        try:
            method = await self._client.v1.payment_methods.attach_async(
                payment_method,
                params={"customer": provider_customer},
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            _raise(exc)
        data = method.to_dict()
        card = data.get("card") or {}
        return SavedMethod(
            reference=str(data["id"]),
            brand=str(card.get("display_brand") or card.get("brand") or data.get("type")),
            last4=str(card.get("last4") or ""),
            exp_month=card.get("exp_month"),
            exp_year=card.get("exp_year"),
            country=card.get("country"),
        )

    # --- payments ----------------------------------------------------------------------------

    async def authorize(
        self, request: AuthorizeRequest, *, idempotency_key: str
    ) -> ProviderPayment:
        if request.amount.amount <= 0:
            raise InvalidProviderRequest(
                NAME, f"an authorization needs a positive amount (got {request.amount})"
            )
        currency = request.amount.currency
        params: dict[str, Any] = {
            "amount": to_stripe_amount(request.amount.amount, currency),
            "currency": currency.lower(),
            "confirm": True,
            "capture_method": request.capture,
            "payment_method": request.payment_method,
            "payment_method_types": ["card"],
            "return_url": request.return_url,
            "metadata": {"payment_id": request.payment_id, **request.metadata},
        }
        if request.provider_customer:
            params["customer"] = request.provider_customer
        if request.description:
            params["description"] = request.description
        try:
            intent = await self._client.v1.payment_intents.create_async(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            _raise(exc)
        return payment_from_intent(intent.to_dict(), "authorize")

    async def retrieve(self, handle: Handle) -> ProviderPayment:
        try:
            intent = await self._client.v1.payment_intents.retrieve_async(handle.reference)
        except stripe.StripeError as exc:
            _raise(exc)
        return payment_from_intent(intent.to_dict(), "retrieve")

    async def capture(
        self, handle: Handle, amount_minor: int | None, *, idempotency_key: str
    ) -> ProviderPayment:
        params: dict[str, Any] = {}
        if amount_minor is not None:
            if amount_minor <= 0:
                raise InvalidProviderRequest(NAME, f"cannot capture {amount_minor}")
            currency = handle.data.get("currency")
            params["amount_to_capture"] = (
                to_stripe_amount(amount_minor, currency) if currency else amount_minor
            )
        try:
            intent = await self._client.v1.payment_intents.capture_async(
                handle.reference,
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            _raise(exc)
        return payment_from_intent(intent.to_dict(), "capture")

    async def cancel(self, handle: Handle, *, idempotency_key: str) -> ProviderPayment:
        try:
            intent = await self._client.v1.payment_intents.cancel_async(
                handle.reference, options={"idempotency_key": idempotency_key}
            )
        except stripe.StripeError as exc:
            _raise(exc)
        return payment_from_intent(intent.to_dict(), "cancel")

    async def refund(
        self, handle: Handle, amount: Money, *, idempotency_key: str, reason: str | None = None
    ) -> ProviderRefund:
        if amount.amount <= 0:
            raise InvalidProviderRequest(NAME, f"a refund needs a positive amount (got {amount})")
        params: dict[str, Any] = {
            "payment_intent": handle.reference,
            "amount": to_stripe_amount(amount.amount, amount.currency),
            "metadata": {},
        }
        if reason in STRIPE_REFUND_REASONS:
            params["reason"] = reason
        elif reason:
            params["metadata"]["reason"] = reason[:500]
        try:
            refund = await self._client.v1.refunds.create_async(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            _raise(exc)
        return refund_from_object(refund.to_dict())

    # --- webhooks ------------------------------------------------------------------------------

    async def parse_webhook(self, payload: bytes, headers: dict[str, str]) -> WebhookEvent:
        signature = next((v for k, v in headers.items() if k.lower() == "stripe-signature"), None)
        if not signature:
            raise InvalidWebhook("stripe: no Stripe-Signature header")
        if not self._webhook_secrets:
            raise InvalidWebhook("stripe: no webhook signing secret is configured")
        failures: list[str] = []
        event: stripe.Event | None = None
        for secret in self._webhook_secrets:
            try:
                event = stripe.Webhook.construct_event(payload, signature, secret, self._tolerance)
                break
            except stripe.SignatureVerificationError as exc:
                failures.append(exc.user_message or "signature verification failed")
            except (ValueError, UnicodeDecodeError) as exc:  # not JSON / not UTF-8
                raise InvalidWebhook(f"stripe: the body is not a JSON event ({exc})") from exc
        if event is None:
            raise InvalidWebhook("stripe: " + "; ".join(dict.fromkeys(failures)))
        try:
            return event_from_dict(json.loads(payload))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidWebhook(f"stripe: unexpected event shape ({exc!r})") from exc
