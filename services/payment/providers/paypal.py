"""PayPal over its REST API (Orders v2, Payments v2, webhook verification) with httpx.

The flow (https://developer.paypal.com/docs/api/orders/v2/, /docs/api/payments/v2/):

1. `authorize` creates an order with intent AUTHORIZE (`POST /v2/checkout/orders`, the
   shopper's return and cancel URLs in `payment_source.paypal.experience_context`); PayPal
   answers PAYER_ACTION_REQUIRED (or CREATED) with a `payer-action` (`approve`) link:
   REQUIRES_ACTION with `next_action = {"type": "redirect_to_url", "url": <link>}`.
2. The shopper approves at PayPal and comes back; `retrieve` reads the order
   (`GET /v2/checkout/orders/{id}`) and, when it is APPROVED, authorizes it
   (`POST /v2/checkout/orders/{id}/authorize`): AUTHORIZED, with the authorization id in
   `handle.data["authorization_id"]`.
3. `capture` captures the authorization (`POST /v2/payments/authorizations/{id}/capture`,
   `handle.data["capture_id"]`), `cancel` voids it (`.../void`), `refund` refunds a capture
   (`POST /v2/payments/captures/{id}/refund`).

The order id is the payment's reference. Amounts are decimal strings in the currency's
exponent (`kommerce.money`: JPY "1000", EUR "19.99", KWD "12.345"), except where PayPal
allows no decimals (HUF, JPY, TWD: https://developer.paypal.com/api/rest/reference/currency-codes/),
where a fractional amount is refused here. PayPal does not vault cards in this flow:
`ensure_customer` answers our own id and `attach_payment_method` refuses.

Errors (https://developer.paypal.com/api/rest/responses/): connection errors, timeouts, 429
and 5xx → TransientProviderError (a 401 on an API call drops the cached token and is
transient too: the retry gets a fresh one); 422 with a decline issue (INSTRUMENT_DECLINED,
TRANSACTION_REFUSED, PAYER_ACTION_REQUIRED, ...) → CardDeclined; other 4xx →
InvalidProviderRequest. Every mutating call sends `PayPal-Request-Id` (the idempotency key).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, NoReturn

import httpx

from kommerce.money import Money, exponent
from services.payment.providers.base import (
    AuthorizeRequest,
    CardDeclined,
    DisputeInfo,
    Handle,
    InvalidProviderRequest,
    InvalidWebhook,
    Outcome,
    ProviderPayment,
    ProviderRefund,
    SavedMethod,
    TransientProviderError,
    WebhookEvent,
    WebhookKind,
)

NAME = "paypal"
SANDBOX = "https://api-m.sandbox.paypal.com"

# PayPal takes no decimals for these (its currency-codes reference).
PAYPAL_NO_DECIMALS = frozenset({"HUF", "JPY", "TWD"})
# 422 issues that mean the payer's funding was declined: not retried, the payment failed.
DECLINE_ISSUES = frozenset(
    {
        "INSTRUMENT_DECLINED",
        "TRANSACTION_REFUSED",
        "PAYER_ACTION_REQUIRED",
        "PAYER_CANNOT_PAY",
        "PAYER_ACCOUNT_RESTRICTED",
        "PAYER_ACCOUNT_LOCKED_OR_CLOSED",
        "PAYEE_BLOCKED_TRANSACTION",
        "AUTHORIZATION_DENIED",
        "CARD_EXPIRED",
        "MAX_NUMBER_OF_PAYMENT_ATTEMPTS_EXCEEDED",
        "REDIRECT_PAYER_FOR_ALTERNATE_FUNDING",
        "DECLINED_DUE_TO_RELATED_TXN",
        "COMPLIANCE_VIOLATION",
    }
)
WEBHOOK_HEADERS = {
    "auth_algo": "paypal-auth-algo",
    "cert_url": "paypal-cert-url",
    "transmission_id": "paypal-transmission-id",
    "transmission_sig": "paypal-transmission-sig",
    "transmission_time": "paypal-transmission-time",
}
# Webhook event types → our kinds. CHECKOUT.ORDER.APPROVED means the shopper approved the
# order at PayPal: nothing is authorized yet, so it is REQUIRES_ACTION (on our side now) and
# the service answers it by calling `retrieve`, which authorizes an APPROVED order.
_EVENT_KINDS: dict[str, WebhookKind] = {
    "CHECKOUT.ORDER.APPROVED": WebhookKind.REQUIRES_ACTION,
    "PAYMENT.AUTHORIZATION.CREATED": WebhookKind.AUTHORIZED,
    "PAYMENT.AUTHORIZATION.VOIDED": WebhookKind.CANCELLED,
    "PAYMENT.CAPTURE.COMPLETED": WebhookKind.CAPTURED,
    "PAYMENT.CAPTURE.DENIED": WebhookKind.FAILED,
    "PAYMENT.CAPTURE.REFUNDED": WebhookKind.REFUND_UPDATED,
    "CUSTOMER.DISPUTE.CREATED": WebhookKind.DISPUTE_OPENED,
    "CUSTOMER.DISPUTE.UPDATED": WebhookKind.DISPUTE_UPDATED,
    "CUSTOMER.DISPUTE.RESOLVED": WebhookKind.DISPUTE_CLOSED,
}
# dispute_outcome.outcome_code: the merchant keeps the money (won) or not (lost).
_DISPUTE_WON = frozenset({"RESOLVED_SELLER_FAVOUR", "CANCELED_BY_BUYER", "RESOLVED_WITH_PAYOUT"})
_DISPUTE_LOST = frozenset({"RESOLVED_BUYER_FAVOUR", "ACCEPTED", "DENIED"})


def paypal_value(amount: Money) -> str:
    """Minor units → PayPal's decimal string (`Money(1999, "EUR")` → "19.99")."""
    code = amount.currency
    if code in PAYPAL_NO_DECIMALS:
        whole = amount.decimal()
        if whole != whole.to_integral_value():
            raise InvalidProviderRequest(NAME, f"PayPal takes no decimals for {code}: {amount}")
        return f"{whole.to_integral_value():f}"
    return f"{amount.decimal():f}"


def minor_of(value: dict[str, Any]) -> tuple[int, str]:
    """PayPal's `{"currency_code", "value"}` → (minor units, currency)."""
    code = str(value["currency_code"]).upper()
    major = Decimal(str(value["value"]))
    minor = major.scaleb(exponent(code))
    if minor != minor.to_integral_value():
        raise ValueError(f"{value['value']} {code} has more digits than {code} allows")
    return int(minor), code


def _link(body: dict[str, Any], *rels: str) -> str | None:
    for rel in rels:
        for link in body.get("links") or []:
            if link.get("rel") == rel:
                return str(link["href"])
    return None


def _header(headers: dict[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def _payments(order: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    units = order.get("purchase_units") or [{}]
    payments: dict[str, list[dict[str, Any]]] = units[0].get("payments") or {}
    return payments


class PayPalProvider:
    """The `PaymentProvider` for PayPal (REST, OAuth2 client credentials)."""

    name = NAME

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        webhook_id: str = "",
        api_base: str = SANDBOX,
        timeout: float = 10.0,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._webhook_id = webhook_id
        self._http = http or httpx.AsyncClient(base_url=api_base, timeout=timeout)
        self._owns_http = http is None
        self._clock = clock
        self._token: str | None = None
        self._token_expires = 0.0

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    # --- HTTP ------------------------------------------------------------------------------

    async def _access_token(self) -> str:
        """The cached OAuth2 token, renewed a minute before PayPal says it expires."""
        if self._token is not None and self._clock() < self._token_expires:
            return self._token
        try:
            response = await self._http.post(
                "/v1/oauth2/token",
                data={"grant_type": "client_credentials"},
                auth=(self._client_id, self._client_secret),
                headers={"Accept": "application/json"},
            )
        except httpx.TransportError as exc:
            raise TransientProviderError(NAME, f"token request failed: {exc!r}") from exc
        if response.status_code != 200:
            self._raise_for(response, "token")
        body = response.json()
        self._token = str(body["access_token"])
        self._token_expires = self._clock() + max(int(body.get("expires_in", 0)) - 60, 0)
        return self._token

    async def _request(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        token = await self._access_token()
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "Prefer": "return=representation",
        }
        if request_id:
            headers["PayPal-Request-Id"] = request_id
        try:
            response = await self._http.request(method, path, json=body, headers=headers)
        except httpx.TransportError as exc:
            raise TransientProviderError(NAME, f"{method} {path} failed: {exc!r}") from exc
        if response.status_code == 401:
            self._token = None  # expired or revoked: the retry fetches a new one
            raise TransientProviderError(NAME, "access token rejected", code="UNAUTHORIZED")
        if response.status_code >= 400:
            self._raise_for(response, f"{method} {path}")
        if response.status_code == 204 or not response.content:
            return {}
        data: dict[str, Any] = response.json()
        return data

    def _raise_for(self, response: httpx.Response, what: str) -> NoReturn:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        details = body.get("details") or []
        issue = str(details[0].get("issue")) if details else None
        code = issue or body.get("name") or body.get("error")
        description = (details[0].get("description") if details else None) or body.get(
            "message", body.get("error_description", response.reason_phrase)
        )
        debug = body.get("debug_id")
        message = f"{what}: {status} {description}" + (f" [debug_id {debug}]" if debug else "")
        if status == 429 or status >= 500:
            raise TransientProviderError(NAME, message, code=code)
        if status == 422 and issue in DECLINE_ISSUES:
            raise CardDeclined(NAME, str(description), code=issue)
        raise InvalidProviderRequest(NAME, message, code=code)

    # --- customers -------------------------------------------------------------------------

    async def ensure_customer(
        self, customer_id: str, *, email: str | None, idempotency_key: str
    ) -> str:
        """PayPal keeps no customer object here (the payer logs in at PayPal): our id."""
        return customer_id

    async def attach_payment_method(
        self, provider_customer: str, payment_method: str, *, idempotency_key: str
    ) -> SavedMethod:
        raise InvalidProviderRequest(
            NAME, "PayPal payment methods are not saved: the payer approves each order at PayPal"
        )

    # --- payments ------------------------------------------------------------------------

    def _payment(self, order: dict[str, Any], handle: Handle) -> ProviderPayment:
        """An order (and the authorization and capture in it) in our words."""
        units = order.get("purchase_units") or [{}]
        amount = units[0].get("amount")
        if amount:
            amount_minor, currency = minor_of(amount)
        else:
            amount_minor = int(handle.data.get("amount_minor", "0"))
            currency = handle.data.get("currency", "")
        data = {**handle.data, "amount_minor": str(amount_minor), "currency": currency}
        status = str(order.get("status"))
        payments = _payments(order)
        authorizations = payments.get("authorizations") or []
        captures = payments.get("captures") or []
        captured = 0
        for capture in captures:
            if capture.get("status") in ("COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED"):
                data["capture_id"] = str(capture["id"])
                captured += minor_of(capture["amount"])[0] if capture.get("amount") else 0
        outcome = Outcome.PENDING
        next_action = None
        raw = status
        if authorizations:
            auth = authorizations[-1]
            data["authorization_id"] = str(auth["id"])
            raw = f"{status}/{auth.get('status')}"
            outcome = {
                "CREATED": Outcome.AUTHORIZED,
                "CAPTURED": Outcome.CAPTURED,
                "PARTIALLY_CAPTURED": Outcome.CAPTURED,
                "VOIDED": Outcome.CANCELLED,
                "EXPIRED": Outcome.CANCELLED,
                "DENIED": Outcome.FAILED,
            }.get(str(auth.get("status")), Outcome.PENDING)
        elif status in ("PAYER_ACTION_REQUIRED", "CREATED"):
            url = _link(order, "payer-action", "approve")
            if url:
                outcome = Outcome.REQUIRES_ACTION
                next_action = {"type": "redirect_to_url", "url": url}
        elif status == "VOIDED":
            outcome = Outcome.CANCELLED
        return ProviderPayment(
            handle=Handle(reference=str(order.get("id") or handle.reference), data=data),
            outcome=outcome,
            raw_status=raw,
            amount_minor=amount_minor,
            currency=currency,
            captured_minor=captured,
            next_action=next_action,
            decline_code="AUTHORIZATION_DENIED" if outcome is Outcome.FAILED else None,
        )

    async def authorize(
        self, request: AuthorizeRequest, *, idempotency_key: str
    ) -> ProviderPayment:
        if request.amount.amount <= 0:
            raise InvalidProviderRequest(
                NAME, f"an order needs a positive amount ({request.amount})"
            )
        separator = "&" if "?" in request.return_url else "?"
        unit: dict[str, Any] = {
            "reference_id": request.payment_id,
            "custom_id": request.payment_id,
            "amount": {
                "currency_code": request.amount.currency,
                "value": paypal_value(request.amount),
            },
        }
        if request.metadata.get("order_id"):
            unit["invoice_id"] = request.metadata["order_id"]
        if request.description:
            unit["description"] = request.description[:127]
        body = {
            "intent": "AUTHORIZE",
            "purchase_units": [unit],
            "payment_source": {
                "paypal": {
                    "experience_context": {
                        "return_url": request.return_url,
                        "cancel_url": f"{request.return_url}{separator}cancelled=true",
                        "user_action": "PAY_NOW",
                        "shipping_preference": "NO_SHIPPING",
                    }
                }
            },
        }
        order = await self._request(
            "POST", "/v2/checkout/orders", body=body, request_id=idempotency_key
        )
        handle = Handle(
            reference=str(order["id"]),
            data={
                "amount_minor": str(request.amount.amount),
                "currency": request.amount.currency,
            },
        )
        return self._payment(order, handle)

    async def retrieve(self, handle: Handle) -> ProviderPayment:
        order = await self._request("GET", f"/v2/checkout/orders/{handle.reference}")
        if order.get("status") != "APPROVED":
            return self._payment(order, handle)
        try:
            authorized = await self._request(
                "POST",
                f"/v2/checkout/orders/{handle.reference}/authorize",
                body={},
                request_id=f"{handle.reference}-authorize",
            )
        except CardDeclined as exc:
            payment = self._payment(order, handle)
            return ProviderPayment(
                handle=payment.handle,
                outcome=Outcome.FAILED,
                raw_status="APPROVED/DECLINED",
                amount_minor=payment.amount_minor,
                currency=payment.currency,
                decline_code=exc.code,
                decline_message=exc.message,
            )
        return self._payment(authorized, handle)

    async def capture(
        self, handle: Handle, amount_minor: int | None, *, idempotency_key: str
    ) -> ProviderPayment:
        authorization = handle.data.get("authorization_id")
        if not authorization:
            raise InvalidProviderRequest(NAME, f"order {handle.reference} is not authorized yet")
        currency = handle.data.get("currency", "")
        body: dict[str, Any] = {"final_capture": True}
        if amount_minor is not None:
            body["amount"] = {
                "currency_code": currency,
                "value": paypal_value(Money(amount=amount_minor, currency=currency)),
            }
        capture = await self._request(
            "POST",
            f"/v2/payments/authorizations/{authorization}/capture",
            body=body,
            request_id=idempotency_key,
        )
        status = str(capture.get("status"))
        total = int(handle.data.get("amount_minor", "0"))
        captured = amount_minor if amount_minor is not None else total
        if capture.get("amount"):
            captured = minor_of(capture["amount"])[0]
        outcome = {
            "COMPLETED": Outcome.CAPTURED,
            "DECLINED": Outcome.FAILED,
            "FAILED": Outcome.FAILED,
        }.get(status, Outcome.PENDING)
        reason = (capture.get("status_details") or {}).get("reason")
        return ProviderPayment(
            handle=Handle(handle.reference, {**handle.data, "capture_id": str(capture["id"])}),
            outcome=outcome,
            raw_status=f"CAPTURE/{status}",
            amount_minor=total or captured,
            currency=currency,
            captured_minor=captured if outcome is Outcome.CAPTURED else 0,
            decline_code=(reason or status) if outcome is Outcome.FAILED else None,
        )

    async def cancel(self, handle: Handle, *, idempotency_key: str) -> ProviderPayment:
        """Voids the authorization. An order never authorized holds no funds and cannot be
        cancelled at PayPal (it expires): CANCELLED without a call; the service must not
        `retrieve` (which would authorize an approved order) a cancelled payment."""
        authorization = handle.data.get("authorization_id")
        amount_minor = int(handle.data.get("amount_minor", "0"))
        currency = handle.data.get("currency", "")
        if not authorization:
            return ProviderPayment(
                handle=handle,
                outcome=Outcome.CANCELLED,
                raw_status="NOT_AUTHORIZED",
                amount_minor=amount_minor,
                currency=currency,
            )
        voided = await self._request(
            "POST",
            f"/v2/payments/authorizations/{authorization}/void",
            request_id=idempotency_key,
        )
        status = str(voided.get("status") or "VOIDED")  # 204 No Content = voided
        return ProviderPayment(
            handle=handle,
            outcome=Outcome.CANCELLED if status == "VOIDED" else Outcome.PENDING,
            raw_status=f"AUTHORIZATION/{status}",
            amount_minor=amount_minor,
            currency=currency,
        )

    async def refund(
        self, handle: Handle, amount: Money, *, idempotency_key: str, reason: str | None = None
    ) -> ProviderRefund:
        capture = handle.data.get("capture_id")
        if not capture:
            raise InvalidProviderRequest(NAME, f"order {handle.reference} has no capture to refund")
        if amount.amount <= 0:
            raise InvalidProviderRequest(NAME, f"a refund needs a positive amount ({amount})")
        body: dict[str, Any] = {
            "amount": {"currency_code": amount.currency, "value": paypal_value(amount)}
        }
        if reason:
            body["note_to_payer"] = reason[:255]
        refund = await self._request(
            "POST", f"/v2/payments/captures/{capture}/refund", body=body, request_id=idempotency_key
        )
        return _refund_of(refund, amount)

    # --- webhooks ----------------------------------------------------------------------------

    async def parse_webhook(self, payload: bytes, headers: dict[str, str]) -> WebhookEvent:
        """Verified by PayPal (`POST /v1/notifications/verify-webhook-signature`); a delivery
        PayPal does not vouch for is InvalidWebhook. PayPal unreachable: the
        TransientProviderError propagates (answer 5xx: PayPal delivers again)."""
        if not self._webhook_id:
            raise InvalidWebhook("paypal: no webhook id is configured")
        try:
            event = json.loads(payload)
        except ValueError as exc:
            raise InvalidWebhook(f"paypal: the body is not JSON ({exc})") from exc
        if not isinstance(event, dict):
            raise InvalidWebhook("paypal: the body is not a webhook event")
        verification: dict[str, Any] = {}
        for field_name, header in WEBHOOK_HEADERS.items():
            value = _header(headers, header)
            if not value:
                raise InvalidWebhook(f"paypal: missing {header.upper()} header")
            verification[field_name] = value
        verification["webhook_id"] = self._webhook_id
        verification["webhook_event"] = event
        try:
            answer = await self._request(
                "POST", "/v1/notifications/verify-webhook-signature", body=verification
            )
        except InvalidProviderRequest as exc:
            raise InvalidWebhook(f"paypal: verification refused: {exc.message}") from exc
        if answer.get("verification_status") != "SUCCESS":
            raise InvalidWebhook(
                f"paypal: signature verification {answer.get('verification_status')}"
            )
        try:
            parsed = event_from_dict(event)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise InvalidWebhook(f"paypal: unexpected event shape ({exc!r})") from exc
        capture_id = parsed.handle_data.get("capture_id")
        if parsed.reference is None and capture_id:
            # A refund or a dispute names the capture, not the order: ask PayPal for its order.
            capture = await self._request("GET", f"/v2/payments/captures/{capture_id}")
            order_id = ((capture.get("supplementary_data") or {}).get("related_ids") or {}).get(
                "order_id"
            )
            if order_id:
                parsed = _with_reference(parsed, str(order_id))
        return parsed


def _refund_of(refund: dict[str, Any], requested: Money | None = None) -> ProviderRefund:
    raw = str(refund.get("status"))
    status: Literal["succeeded", "pending", "failed"]
    if raw == "COMPLETED":
        status = "succeeded"
    elif raw in ("FAILED", "CANCELLED"):
        status = "failed"
    else:
        status = "pending"
    if refund.get("amount"):
        amount_minor, currency = minor_of(refund["amount"])
    elif requested is not None:
        amount_minor, currency = requested.amount, requested.currency
    else:
        raise ValueError("a refund without an amount")
    return ProviderRefund(
        reference=str(refund["id"]), status=status, amount_minor=amount_minor, currency=currency
    )


def _with_reference(event: WebhookEvent, reference: str) -> WebhookEvent:
    return replace(event, reference=reference)


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _related(resource: dict[str, Any], key: str) -> str | None:
    related = (resource.get("supplementary_data") or {}).get("related_ids") or {}
    value = related.get(key)
    return str(value) if value else None


def _up_id(resource: dict[str, Any], segment: str) -> str | None:
    """The id in the resource's `up` link when it points at /<segment>/<id>."""
    href = _link(resource, "up")
    if href and f"/{segment}/" in href:
        return href.rstrip("/").rsplit("/", 1)[-1]
    return None


def event_from_dict(event: dict[str, Any]) -> WebhookEvent:
    """A verified PayPal event in our words (KeyError/ValueError on an unexpected shape)."""
    raw_type = str(event["event_type"])
    resource: dict[str, Any] = event["resource"]
    kind = _EVENT_KINDS.get(raw_type, WebhookKind.IGNORED)
    occurred = _time(event.get("create_time"))
    if occurred is None:
        raise ValueError("an event without create_time")
    common: dict[str, Any] = {
        "provider": NAME,
        "event_id": str(event["id"]),
        "raw_type": raw_type,
        "kind": kind,
        "occurred_at": occurred,
    }
    if raw_type == "CHECKOUT.ORDER.APPROVED":
        amount = ((resource.get("purchase_units") or [{}])[0]).get("amount")
        minor, currency = minor_of(amount) if amount else (None, None)
        return WebhookEvent(
            **common,
            reference=str(resource["id"]),
            amount_minor=minor,
            currency=currency,
            handle_data={"order_status": str(resource.get("status"))},
        )
    if raw_type.startswith("PAYMENT.AUTHORIZATION."):
        minor, currency = minor_of(resource["amount"])
        return WebhookEvent(
            **common,
            reference=_related(resource, "order_id"),
            amount_minor=minor,
            currency=currency,
            handle_data={"authorization_id": str(resource["id"])},
        )
    if raw_type in ("PAYMENT.CAPTURE.COMPLETED", "PAYMENT.CAPTURE.DENIED"):
        minor, currency = minor_of(resource["amount"])
        data = {"capture_id": str(resource["id"])}
        authorization = _related(resource, "authorization_id") or _up_id(resource, "authorizations")
        if authorization:
            data["authorization_id"] = authorization
        reason = (resource.get("status_details") or {}).get("reason")
        denied = kind is WebhookKind.FAILED
        return WebhookEvent(
            **common,
            reference=_related(resource, "order_id") or _up_id(resource, "orders"),
            amount_minor=minor,
            currency=currency,
            decline_code=(reason or "CAPTURE_DENIED") if denied else None,
            decline_message=(str(event.get("summary") or "") or None) if denied else None,
            handle_data=data,
        )
    if raw_type == "PAYMENT.CAPTURE.REFUNDED":
        refund = _refund_of(resource)
        capture = _related(resource, "capture_id") or _up_id(resource, "captures")
        return WebhookEvent(
            **common,
            reference=_related(resource, "order_id"),
            amount_minor=refund.amount_minor,
            currency=refund.currency,
            refund=refund,
            handle_data={"capture_id": capture} if capture else {},
        )
    if raw_type.startswith("CUSTOMER.DISPUTE."):
        minor, currency = minor_of(resource["dispute_amount"])
        outcome_code = (resource.get("dispute_outcome") or {}).get("outcome_code")
        outcome: Literal["won", "lost"] | None = None
        if kind is WebhookKind.DISPUTE_CLOSED:
            if outcome_code in _DISPUTE_WON:
                outcome = "won"
            elif outcome_code in _DISPUTE_LOST:
                outcome = "lost"
        dispute = DisputeInfo(
            reference=str(resource["dispute_id"]),
            amount_minor=minor,
            currency=currency,
            reason=str(resource.get("reason") or "OTHER"),
            status=str(resource.get("status")),
            evidence_due_by=_time(resource.get("seller_response_due_date")),
            outcome=outcome,
        )
        transactions = resource.get("disputed_transactions") or [{}]
        capture = transactions[0].get("seller_transaction_id")
        return WebhookEvent(
            **common,
            reference=None,
            amount_minor=minor,
            currency=currency,
            dispute=dispute,
            handle_data={"capture_id": str(capture)} if capture else {},
        )
    return WebhookEvent(**common, reference=_related(resource, "order_id"))
