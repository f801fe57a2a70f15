"""Applying verified provider webhooks: each event once, in a consistent order per payment.

1. The provider module verifies the delivery (signature, timestamp tolerance) and translates
   it (`parse_webhook`); a delivery that fails is a 400 and nothing is stored.
2. In one transaction: the event's id is inserted into `webhook_events` (ON CONFLICT DO
   NOTHING). A duplicate — the same delivery 1,000 times, concurrently — finds the row (a
   concurrent one waits on the first's uncommitted insert) and changes nothing.
3. The payment is locked (`FOR UPDATE`), so events for one payment apply one at a time, and
   each applies only as a legal move of the state machine: an event that arrives after a later
   one (`authorized` after `captured`) is recorded as `stale` and changes nothing.
4. A saga command waiting for the payment's outcome is answered (participant.resolve).

Every event is answered 200 once verified — also one for a payment we do not know (recorded
`unknown-payment`), so the provider does not retry it for days.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.payment import disputes, payments, refunds
from services.payment.authorization import apply_outcome, refresh
from services.payment.participant import PaymentParticipant
from services.payment.providers.base import (
    Handle,
    Outcome,
    ProviderPayment,
    WebhookEvent,
    WebhookKind,
)
from services.payment.tables import WEBHOOK_EVENTS

_OUTCOMES = {
    WebhookKind.REQUIRES_ACTION: Outcome.REQUIRES_ACTION,
    WebhookKind.AUTHORIZED: Outcome.AUTHORIZED,
    WebhookKind.CAPTURED: Outcome.CAPTURED,
    WebhookKind.FAILED: Outcome.FAILED,
    WebhookKind.CANCELLED: Outcome.CANCELLED,
}

# Events that can decide a payment's authorization (the others need it captured already).
_DECIDING = frozenset({*_OUTCOMES, WebhookKind.REQUIRES_ACTION})


async def apply(session: AsyncSession, participant: PaymentParticipant, event: WebhookEvent) -> str:
    """Apply one verified event; returns what happened: applied, duplicate, stale, ignored,
    unknown-payment."""
    fresh = (
        await session.execute(
            pg_insert(WEBHOOK_EVENTS)
            .values(
                provider=event.provider,
                event_id=event.event_id,
                type=event.raw_type[:200],
                outcome="received",
                occurred_at=event.occurred_at,
            )
            .on_conflict_do_nothing(index_elements=["provider", "event_id"])
            .returning(WEBHOOK_EVENTS.c.event_id)
        )
    ).first()
    if fresh is None:
        return "duplicate"
    outcome, payment_id = await _apply(session, participant, event)
    await session.execute(
        update(WEBHOOK_EVENTS)
        .where(
            WEBHOOK_EVENTS.c.provider == event.provider,
            WEBHOOK_EVENTS.c.event_id == event.event_id,
        )
        .values(outcome=outcome, payment_id=payment_id)
    )
    return outcome


async def _apply(
    session: AsyncSession, participant: PaymentParticipant, event: WebhookEvent
) -> tuple[str, str | None]:
    if event.kind == WebhookKind.IGNORED:
        return "ignored", None
    if not event.reference:
        return "unknown-payment", None
    payment = await payments.find(
        session, provider=event.provider, reference=event.reference, lock=True
    )
    if payment is None:
        return "unknown-payment", None
    source = f"webhook:{event.provider}:{event.event_id}"
    before = (payment.status, payment.version)
    result: str
    if event.kind == WebhookKind.REQUIRES_ACTION and event.handle_data.get("order_status") == (
        "APPROVED"
    ):  # PayPal: the payer approved; authorizing is ours to do (providers/paypal.py)
        payment = await refresh(participant.ctx, session, payment, source=source)
        result = "applied" if (payment.status, payment.version) != before else "stale"
    elif event.kind in _OUTCOMES:
        payment = await apply_outcome(
            session,
            payment,
            ProviderPayment(
                handle=Handle(reference=event.reference, data=event.handle_data),
                outcome=_OUTCOMES[event.kind],
                raw_status=event.raw_type,
                amount_minor=event.amount_minor or payment.amount_minor,
                currency=event.currency or payment.currency,
                captured_minor=event.amount_minor or 0,
                next_action=event.next_action,
                decline_code=event.decline_code,
                decline_message=event.decline_message,
            ),
            action="webhook",
            source=source,
        )
        result = "applied" if (payment.status, payment.version) != before else "stale"
    elif event.kind == WebhookKind.REFUND_UPDATED and event.refund is not None:
        result = await refunds.apply_provider_refund(session, payment, event.refund, source=source)
    elif event.kind == WebhookKind.DISPUTE_OPENED and event.dispute is not None:
        result = await disputes.opened(session, payment, event.dispute, source=source)
    elif event.kind == WebhookKind.DISPUTE_UPDATED and event.dispute is not None:
        result = await disputes.updated(session, payment, event.dispute)
    elif event.kind == WebhookKind.DISPUTE_CLOSED and event.dispute is not None:
        result = await disputes.closed(session, payment, event.dispute, source=source)
    else:
        result = "ignored"
    if result == "applied" and event.kind in _DECIDING:
        # a saga command waits only on payments that are not decided yet
        await participant.resolve(session, payment)
    return result, payment.payment_id
