"""Refunds: full or partial, never more than was captured, frozen while a dispute is open.

A refund is a row first (`pending`, keyed by the caller's request key: the refund saga's
refund_id or the API's Idempotency-Key), then the provider call with the refund's own id as the
provider's idempotency key. What the provider says is applied: `succeeded` adds to the
payment's `refunded_minor` and moves it to partially_refunded/refunded; `pending` waits for the
webhook (`apply_provider_refund`); `failed` changes nothing but the refund.

Pending and succeeded refunds both count against the captured amount, so two concurrent
refunds can never add up to more than was taken (the payment row is locked by the caller).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.http.errors import Conflict
from kommerce.money import Money
from services.payment import metrics, payments
from services.payment.authorization import handle
from services.payment.context import PaymentContext
from services.payment.providers.base import ProviderRefund
from services.payment.states import CAPTURED_STATES, Status, after_refund
from services.payment.tables import REFUNDS


class RefundExceedsCaptured(Conflict):
    slug = "refund-exceeds-captured"
    title = "Refund exceeds the captured amount"


class RefundsFrozen(Conflict):
    slug = "refunds-frozen"
    title = "Refunds are frozen while a dispute is open"


class NotCaptured(Conflict):
    slug = "payment-not-captured"
    title = "Nothing captured to refund"


class RefundConflict(Conflict):
    slug = "refund-conflict"
    title = "The refund key was used for another refund"


class CurrencyMismatch(Conflict):
    slug = "currency-mismatch"
    title = "Refund in another currency than the payment"


async def refund(
    ctx: PaymentContext,
    session: AsyncSession,
    payment: Any,
    amount: Money,
    *,
    request_key: str,
    reason: str,
    source: str,
) -> Any:
    """Refund `amount` of the (locked) payment once per `request_key`; returns the refund row."""
    done = (
        await session.execute(select(REFUNDS).where(REFUNDS.c.request_key == request_key))
    ).first()
    if done is not None:
        if (done.payment_id, done.amount_minor, done.currency) != (
            payment.payment_id,
            amount.amount,
            amount.currency,
        ):
            raise RefundConflict(
                f"refund key {request_key} was used for {done.amount_minor} {done.currency} "
                f"of payment {done.payment_id}"
            )
        return done
    if payment.status == Status.DISPUTED:
        raise RefundsFrozen(
            f"payment {payment.payment_id} is disputed: refunds wait until the dispute closes"
        )
    if payment.status not in CAPTURED_STATES:
        raise NotCaptured(
            f"payment {payment.payment_id} is {payment.status}: nothing was captured "
            "(cancel an authorization instead)"
        )
    if amount.currency != payment.currency:
        raise CurrencyMismatch(
            f"payment {payment.payment_id} is in {payment.currency}, not {amount.currency}"
        )
    committed = (
        await session.execute(
            select(func.coalesce(func.sum(REFUNDS.c.amount_minor), 0)).where(
                REFUNDS.c.payment_id == payment.payment_id,
                REFUNDS.c.status.in_(("pending", "succeeded")),
            )
        )
    ).scalar_one()
    if committed + amount.amount > payment.captured_minor:
        raise RefundExceedsCaptured(
            f"refunding {amount.amount} {amount.currency} would bring refunds of payment "
            f"{payment.payment_id} to {committed + amount.amount}, more than the "
            f"{payment.captured_minor} captured"
        )
    refund_id = payments.new_id("rf")
    await session.execute(
        insert(REFUNDS).values(
            refund_id=refund_id,
            payment_id=payment.payment_id,
            request_key=request_key,
            amount_minor=amount.amount,
            currency=amount.currency,
            status="pending",
            reason=reason[:500],
        )
    )
    await payments.record(
        session, payment, action="refund-requested", source=source, amount_minor=amount.amount
    )
    result = await ctx.gateway(payment.provider).refund(
        handle(payment), amount, idempotency_key=f"refund:{request_key}", reason=reason or None
    )
    return await apply_refund(session, payment, refund_id, result, source=source)


async def apply_refund(
    session: AsyncSession, payment: Any, refund_id: str, result: ProviderRefund, *, source: str
) -> Any:
    """Record the provider's answer for a refund of the (locked) payment; returns the row."""
    current = (await session.execute(select(REFUNDS).where(REFUNDS.c.refund_id == refund_id))).one()
    row = (
        await session.execute(
            update(REFUNDS)
            .where(REFUNDS.c.refund_id == refund_id)
            .values(
                status=result.status,
                provider_reference=result.reference or current.provider_reference,
                updated_at=func.now(),
            )
            .returning(*REFUNDS.c)
        )
    ).one()
    if current.status != "succeeded" and result.status == "succeeded":
        refunded = payment.refunded_minor + current.amount_minor
        if payment.status == Status.DISPUTED:  # asked before the dispute opened
            updated = await payments.update_fields(
                session, payment.payment_id, refunded_minor=refunded
            )
            metrics.observe_transition(session, payment.status, updated, before=payment)
            await payments.record(
                session,
                payment,
                action="refund",
                source=source,
                amount_minor=current.amount_minor,
                detail=f"refund {refund_id} (while disputed)",
            )
            return row
        await payments.transition(
            session,
            payment,
            after_refund(payment.captured_minor, refunded),
            action="refund",
            source=source,
            amount_minor=current.amount_minor,
            detail=f"refund {refund_id}",
            refunded_minor=refunded,
        )
    elif result.status == "failed" and current.status != "failed":
        await payments.record(
            session,
            payment,
            action="refund-failed",
            source=source,
            amount_minor=current.amount_minor,
            detail=f"refund {refund_id} failed at the provider",
        )
    return row


async def apply_provider_refund(
    session: AsyncSession, payment: Any, result: ProviderRefund, *, source: str
) -> str:
    """A refund webhook: update the refund it names (by provider reference). A refund made
    outside this service (in the provider's dashboard) is recorded as a new refund."""
    known = (
        await session.execute(
            select(REFUNDS.c.refund_id).where(REFUNDS.c.provider_reference == result.reference)
        )
    ).scalar_one_or_none()
    if known is None:
        if payment.status not in CAPTURED_STATES:
            return "stale"
        known = payments.new_id("rf")
        await session.execute(
            insert(REFUNDS).values(
                refund_id=known,
                payment_id=payment.payment_id,
                request_key=f"provider:{result.reference}",
                amount_minor=result.amount_minor,
                currency=result.currency,
                status="pending",
                reason="made at the provider",
                provider_reference=result.reference,
            )
        )
    await apply_refund(session, payment, known, result, source=source)
    return "applied"
