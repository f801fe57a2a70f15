"""Disputes (chargebacks), opened, updated and closed by the provider's webhooks.

Opening one moves the payment to `disputed` (refunds are frozen: refunds.py refuses them),
records the evidence deadline and emits `payment.dispute_opened` so staff are notified (the
notification service consumes it; `GET /v1/disputes` lists open ones by deadline). Closing it:
won → the payment returns to captured/partially_refunded/refunded (by what was refunded);
lost → the payment stays disputed and the dispute says `lost`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.payment import events, payments
from services.payment.providers.base import DisputeInfo
from services.payment.states import CAPTURED_STATES, Status, after_refund
from services.payment.tables import DISPUTES


async def opened(session: AsyncSession, payment: Any, info: DisputeInfo, *, source: str) -> str:
    if payment.status not in CAPTURED_STATES:
        return "stale"  # nothing was taken: no chargeback possible
    dispute_id = payments.new_id("dsp")
    created = (
        await session.execute(
            pg_insert(DISPUTES)
            .values(
                dispute_id=dispute_id,
                payment_id=payment.payment_id,
                provider_reference=info.reference,
                amount_minor=info.amount_minor,
                currency=info.currency,
                reason=info.reason[:200],
                provider_status=info.status[:100],
                status="open",
                evidence_due_by=info.evidence_due_by,
            )
            .on_conflict_do_nothing(index_elements=["provider_reference"])
            .returning(DISPUTES.c.dispute_id, DISPUTES.c.opened_at)
        )
    ).first()
    if created is None:
        return "stale"  # the same dispute under another event id
    if payment.status != Status.DISPUTED:
        await payments.transition(
            session,
            payment,
            Status.DISPUTED,
            action="dispute",
            source=source,
            amount_minor=info.amount_minor,
            detail=f"dispute {info.reference}: {info.reason}",
        )
    due = info.evidence_due_by
    await events.emit(
        session,
        events.DISPUTE_OPENED,
        {
            "dispute_id": created.dispute_id,
            "payment_id": payment.payment_id,
            "order_id": payment.order_id,
            "provider": payment.provider,
            "amount_minor": info.amount_minor,
            "currency": info.currency,
            "reason": info.reason[:200],
            "evidence_due_by": due.astimezone(UTC) if due else None,
            "opened_at": created.opened_at,
        },
    )
    return "applied"


async def updated(session: AsyncSession, payment: Any, info: DisputeInfo) -> str:
    changed = (
        await session.execute(
            update(DISPUTES)
            .where(DISPUTES.c.provider_reference == info.reference, DISPUTES.c.status == "open")
            .values(provider_status=info.status[:100], evidence_due_by=info.evidence_due_by)
            .returning(DISPUTES.c.dispute_id)
        )
    ).first()
    return "applied" if changed else "stale"


async def closed(session: AsyncSession, payment: Any, info: DisputeInfo, *, source: str) -> str:
    outcome = info.outcome or ("won" if info.status == "won" else "lost")
    changed = (
        await session.execute(
            update(DISPUTES)
            .where(DISPUTES.c.provider_reference == info.reference, DISPUTES.c.status == "open")
            .values(provider_status=info.status[:100], status=outcome, closed_at=func.now())
            .returning(DISPUTES.c.dispute_id)
        )
    ).first()
    if changed is None:
        return "stale"
    still_open = (
        await session.execute(
            select(func.count())
            .select_from(DISPUTES)
            .where(DISPUTES.c.payment_id == payment.payment_id, DISPUTES.c.status == "open")
        )
    ).scalar_one()
    if outcome == "won" and not still_open and payment.status == Status.DISPUTED:
        await payments.transition(
            session,
            payment,
            after_refund(payment.captured_minor, payment.refunded_minor),
            action="dispute-won",
            source=source,
            detail=f"dispute {info.reference} won",
        )
    else:
        await payments.record(
            session,
            payment,
            action=f"dispute-{outcome}",
            source=source,
            amount_minor=info.amount_minor,
            detail=f"dispute {info.reference} {outcome}",
        )
    return "applied"


async def submit_evidence(session: AsyncSession, dispute_id: str) -> Any:
    return (
        await session.execute(
            update(DISPUTES)
            .where(DISPUTES.c.dispute_id == dispute_id)
            .values(evidence_submitted_at=datetime.now(UTC))
            .returning(*DISPUTES.c)
        )
    ).first()
