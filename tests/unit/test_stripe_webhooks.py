"""Stripe webhook verification (`stripe.Webhook.construct_event`) and event mapping, no server.

Events are Stripe's documented envelope (services/payment/providers/stripe_events.py) around
Stripe's documented objects (PaymentIntent, Refund, Dispute), signed as Stripe signs them.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from services.payment.providers.base import InvalidWebhook, WebhookKind
from services.payment.providers.stripe import StripeProvider
from services.payment.providers.stripe_events import sign_stripe_event, stripe_event

pytestmark = pytest.mark.unit

SECRET = "whsec_test_current"  # nosec B105 - test signing secret
OLD_SECRET = "whsec_test_previous"  # nosec B105 - test signing secret
PI = "pi_3MtwBwLkdIwHu7ix28a3tqPa"


def intent(**changes: Any) -> dict[str, Any]:
    return {
        "id": PI,
        "object": "payment_intent",
        "amount": 2000,
        "amount_capturable": 0,
        "amount_received": 0,
        "capture_method": "manual",
        "currency": "eur",
        "last_payment_error": None,
        "livemode": False,
        "metadata": {"payment_id": "pay_1"},
        "next_action": None,
        "status": "requires_payment_method",
        **changes,
    }


REFUND = {
    "id": "re_1Nispe2eZvKYlo2Cd31jOCgZ",
    "object": "refund",
    "amount": 500,
    "balance_transaction": "txn_1Nispe2eZvKYlo2CYezqFhEx",
    "charge": "ch_1NirD82eZvKYlo2CIvbtLWuY",
    "created": 1692942318,
    "currency": "eur",
    "metadata": {},
    "payment_intent": PI,
    "reason": "requested_by_customer",
    "status": "succeeded",
}
DISPUTE = {
    "id": "dp_1MtJUT2eZvKYlo2CNaw2HvEv",
    "object": "dispute",
    "amount": 2000,
    "charge": "ch_1AZtxr2eZvKYlo2CJDX8whov",
    "created": 1680651737,
    "currency": "eur",
    "evidence_details": {
        "due_by": 1682294399,
        "has_evidence": False,
        "past_due": False,
        "submission_count": 0,
    },
    "is_charge_refundable": True,
    "livemode": False,
    "metadata": {},
    "payment_intent": PI,
    "reason": "fraudulent",
    "status": "needs_response",
}


def provider(*secrets: str, tolerance: int = 300) -> StripeProvider:
    return StripeProvider(
        "sk_test_x", webhook_secrets=secrets or (SECRET,), webhook_tolerance_seconds=tolerance
    )


def delivery(
    event: dict[str, Any], secret: str = SECRET, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    payload = json.dumps(event).encode()
    return payload, {"Stripe-Signature": sign_stripe_event(payload, secret, timestamp)}


async def test_valid_signature() -> None:
    event = stripe_event("payment_intent.succeeded", intent(status="succeeded"))
    parsed = await provider().parse_webhook(*delivery(event))
    assert parsed.event_id == event["id"]
    assert parsed.event_id.startswith("evt_")
    assert parsed.provider == "stripe"
    assert parsed.occurred_at == datetime.fromtimestamp(event["created"], UTC)


async def test_header_name_is_case_insensitive() -> None:
    payload, headers = delivery(stripe_event("payment_intent.canceled", intent()))
    parsed = await provider().parse_webhook(
        payload, {"stripe-signature": headers["Stripe-Signature"]}
    )
    assert parsed.kind is WebhookKind.CANCELLED


async def test_wrong_secret_is_rejected() -> None:
    payload, headers = delivery(stripe_event("payment_intent.succeeded", intent()), "whsec_other")
    with pytest.raises(InvalidWebhook, match="No signatures found matching"):
        await provider().parse_webhook(payload, headers)


async def test_old_timestamp_is_rejected() -> None:
    old = int(time.time()) - 301
    payload, headers = delivery(stripe_event("payment_intent.succeeded", intent()), timestamp=old)
    with pytest.raises(InvalidWebhook, match="tolerance"):
        await provider(tolerance=300).parse_webhook(payload, headers)
    # a wider tolerance takes the same delivery
    assert (await provider(tolerance=3600).parse_webhook(payload, headers)).kind is (
        WebhookKind.CAPTURED
    )


async def test_tampered_payload_is_rejected() -> None:
    payload, headers = delivery(stripe_event("payment_intent.succeeded", intent(amount=2000)))
    tampered = payload.replace(b'"amount": 2000', b'"amount": 2')
    assert tampered != payload
    with pytest.raises(InvalidWebhook):
        await provider().parse_webhook(tampered, headers)


async def test_missing_or_garbled_header_is_rejected() -> None:
    payload, _ = delivery(stripe_event("payment_intent.succeeded", intent()))
    with pytest.raises(InvalidWebhook, match="no Stripe-Signature"):
        await provider().parse_webhook(payload, {})
    with pytest.raises(InvalidWebhook, match="Unable to extract"):
        await provider().parse_webhook(payload, {"Stripe-Signature": "garbage"})


async def test_rotated_secrets_are_both_accepted() -> None:
    rotating = provider(SECRET, OLD_SECRET)
    for secret in (SECRET, OLD_SECRET):
        parsed = await rotating.parse_webhook(
            *delivery(stripe_event("payment_intent.succeeded", intent()), secret)
        )
        assert parsed.kind is WebhookKind.CAPTURED
    with pytest.raises(InvalidWebhook):  # once rotated out, the old secret is refused
        await provider(SECRET).parse_webhook(
            *delivery(stripe_event("payment_intent.succeeded", intent()), OLD_SECRET)
        )


async def test_signed_body_that_is_not_an_event_is_rejected() -> None:
    for body in (b"not json", json.dumps({"object": "event", "type": "x"}).encode()):
        headers = {"Stripe-Signature": sign_stripe_event(body, SECRET)}
        with pytest.raises(InvalidWebhook):
            await provider().parse_webhook(body, headers)


async def test_a_replayed_delivery_parses_to_the_same_event() -> None:
    """Replays pass verification inside the tolerance; the service dedupes on event_id."""
    payload, headers = delivery(stripe_event("payment_intent.succeeded", intent()))
    first = await provider().parse_webhook(payload, headers)
    again = await provider().parse_webhook(payload, headers)
    assert first == again


async def test_requires_action() -> None:
    action = {
        "type": "redirect_to_url",
        "redirect_to_url": {
            "return_url": "https://shop.test/r",
            "url": "https://hooks.stripe.com/x",
        },
    }
    event = stripe_event(
        "payment_intent.requires_action", intent(status="requires_action", next_action=action)
    )
    parsed = await provider().parse_webhook(*delivery(event))
    assert parsed.kind is WebhookKind.REQUIRES_ACTION
    assert parsed.reference == PI
    assert parsed.next_action == action


async def test_authorized_and_captured_amounts() -> None:
    authorized = await provider().parse_webhook(
        *delivery(
            stripe_event(
                "payment_intent.amount_capturable_updated",
                intent(status="requires_capture", amount_capturable=2000),
            )
        )
    )
    assert (authorized.kind, authorized.reference) == (WebhookKind.AUTHORIZED, PI)
    assert (authorized.amount_minor, authorized.currency) == (2000, "EUR")
    captured = await provider().parse_webhook(
        *delivery(
            stripe_event(
                "payment_intent.succeeded",
                intent(status="succeeded", amount_received=1500, currency="jpy", amount=1500),
            )
        )
    )
    assert (captured.kind, captured.amount_minor, captured.currency) == (
        WebhookKind.CAPTURED,
        1500,
        "JPY",
    )


async def test_payment_failed_carries_the_decline() -> None:
    error = {
        "type": "card_error",
        "code": "card_declined",
        "decline_code": "do_not_honor",
        "message": "Your card was declined.",
    }
    parsed = await provider().parse_webhook(
        *delivery(stripe_event("payment_intent.payment_failed", intent(last_payment_error=error)))
    )
    assert parsed.kind is WebhookKind.FAILED
    assert (parsed.decline_code, parsed.decline_message) == (
        "do_not_honor",
        "Your card was declined.",
    )


async def test_canceled() -> None:
    parsed = await provider().parse_webhook(
        *delivery(stripe_event("payment_intent.canceled", intent(status="canceled")))
    )
    assert (parsed.kind, parsed.reference) == (WebhookKind.CANCELLED, PI)


@pytest.mark.parametrize("kind", ["refund.created", "refund.updated", "charge.refund.updated"])
async def test_refund_events(kind: str) -> None:
    parsed = await provider().parse_webhook(*delivery(stripe_event(kind, REFUND)))
    assert parsed.kind is WebhookKind.REFUND_UPDATED
    assert parsed.reference == PI
    assert parsed.refund is not None
    assert (parsed.refund.reference, parsed.refund.status) == (REFUND["id"], "succeeded")
    assert (parsed.refund.amount_minor, parsed.refund.currency) == (500, "EUR")


async def test_dispute_opened_records_the_evidence_deadline() -> None:
    parsed = await provider().parse_webhook(
        *delivery(stripe_event("charge.dispute.created", DISPUTE))
    )
    assert parsed.kind is WebhookKind.DISPUTE_OPENED
    assert parsed.reference == PI
    assert parsed.dispute is not None
    assert parsed.dispute.reference == DISPUTE["id"]
    assert (parsed.dispute.amount_minor, parsed.dispute.currency) == (2000, "EUR")
    assert parsed.dispute.reason == "fraudulent"
    assert parsed.dispute.status == "needs_response"
    assert parsed.dispute.evidence_due_by == datetime(2023, 4, 23, 23, 59, 59, tzinfo=UTC)
    assert parsed.dispute.outcome is None


async def test_dispute_updated_and_closed() -> None:
    updated = await provider().parse_webhook(
        *delivery(stripe_event("charge.dispute.updated", {**DISPUTE, "status": "under_review"}))
    )
    assert updated.kind is WebhookKind.DISPUTE_UPDATED
    assert updated.dispute is not None
    assert updated.dispute.status == "under_review"
    for status, outcome in (("won", "won"), ("lost", "lost"), ("warning_closed", "won")):
        closed = await provider().parse_webhook(
            *delivery(stripe_event("charge.dispute.closed", {**DISPUTE, "status": status}))
        )
        assert closed.kind is WebhookKind.DISPUTE_CLOSED
        assert closed.dispute is not None
        assert closed.dispute.outcome == outcome


async def test_other_events_are_verified_but_ignored() -> None:
    charge = {"id": "ch_1", "object": "charge", "payment_intent": PI, "amount": 2000}
    parsed = await provider().parse_webhook(*delivery(stripe_event("charge.succeeded", charge)))
    assert (parsed.kind, parsed.reference) == (WebhookKind.IGNORED, PI)
    parsed = await provider().parse_webhook(
        *delivery(stripe_event("payment_intent.created", intent()))
    )
    assert (parsed.kind, parsed.reference) == (WebhookKind.IGNORED, PI)
    customer = {"id": "cus_1", "object": "customer"}
    parsed = await provider().parse_webhook(*delivery(stripe_event("customer.created", customer)))
    assert (parsed.kind, parsed.reference) == (WebhookKind.IGNORED, None)


def test_signature_helper_matches_the_sdk() -> None:
    import stripe

    payload = b'{"id": "evt_1"}'
    header = sign_stripe_event(payload, SECRET, 1_700_000_000)
    assert header == stripe.WebhookSignature.generate_signature_header(
        payload.decode(), SECRET, 1_700_000_000
    )
