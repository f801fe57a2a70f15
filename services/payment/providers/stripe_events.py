"""Stripe webhook deliveries built and signed as Stripe builds and signs them (tests, benchmark).

stripe-mock is stateless: it never sends webhooks, so state transitions (3-D Secure completed,
captured, refunded, disputed) are driven by events shaped like Stripe's documented event
envelope (https://docs.stripe.com/api/events/object) and signed with the endpoint secret the
way Stripe signs them (https://docs.stripe.com/webhooks#verify-manually): the header
`Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from typing import Any

# The API version events are rendered with (the version the installed SDK is pinned to).
API_VERSION = "2026-10-28.endive"


def sign_stripe_event(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A valid `Stripe-Signature` header for `payload` signed with `secret` at `timestamp`."""
    t = int(time.time()) if timestamp is None else timestamp
    signed = f"{t}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def stripe_event(
    type: str,
    obj: dict[str, Any],
    *,
    event_id: str | None = None,
    created: int | None = None,
    previous_attributes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An event envelope as Stripe delivers it, with `obj` as `data.object`."""
    data: dict[str, Any] = {"object": obj}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": API_VERSION,
        "created": int(time.time()) if created is None else created,
        "data": data,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": f"req_{uuid.uuid4().hex[:14]}", "idempotency_key": None},
        "type": type,
    }


def payment_intent(
    reference: str,
    *,
    amount: int,
    currency: str,
    status: str,
    capture_method: str = "manual",
    **fields: Any,
) -> dict[str, Any]:
    """A PaymentIntent object as Stripe documents it (https://docs.stripe.com/api/payment_intents/object):
    the fields the service reads, and a few more."""
    obj: dict[str, Any] = {
        "id": reference,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": amount if status == "requires_capture" else 0,
        "amount_received": amount if status == "succeeded" else 0,
        "capture_method": capture_method,
        "client_secret": f"{reference}_secret_test",
        "confirmation_method": "automatic",
        "created": int(time.time()),
        "currency": currency.lower(),
        "customer": None,
        "last_payment_error": None,
        "latest_charge": f"ch_{uuid.uuid4().hex[:24]}",
        "livemode": False,
        "metadata": {},
        "next_action": None,
        "payment_method": "pm_card_visa",
        "payment_method_types": ["card"],
        "status": status,
    }
    return obj | fields
