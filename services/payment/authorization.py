"""Authorizing a payment, and applying what a provider says about it.

One path for the checkout saga (participant.py) and the API (api/payments.py):
FX settlement amount → fraud verdict → a `pending` payment row → the provider call (through the
gateway: retries, breaker) → the outcome applied by `apply_outcome`. A fraud `block` fails the
payment without calling the provider; `review` authorizes but is flagged for staff (a manual
capture payment is not captured until reviewed).

The provider's idempotency key is the caller's: `order:<order_id>:authorize` for the saga, the
API's `Idempotency-Key` for the API. A transient provider failure rolls the whole transaction
back (no payment row), so a retry with the same key reaches the provider with the same key and
gets the same PaymentIntent, never a second one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.money import Money
from services.payment import fx, payments
from services.payment.context import PaymentContext
from services.payment.fraud import FraudInput
from services.payment.payments import NewPayment
from services.payment.providers.base import (
    AuthorizeRequest,
    CardDeclined,
    Handle,
    InvalidProviderRequest,
    Outcome,
    ProviderPayment,
)
from services.payment.states import Status, can_move
from services.payment.tables import CUSTOMERS, PAYMENT_METHODS

OUTCOME_STATUS = {
    Outcome.REQUIRES_ACTION: Status.REQUIRES_ACTION,
    Outcome.AUTHORIZED: Status.AUTHORIZED,
    Outcome.CAPTURED: Status.CAPTURED,
    Outcome.CANCELLED: Status.CANCELLED,
    Outcome.FAILED: Status.FAILED,
    Outcome.PENDING: Status.PENDING,
}


@dataclass(frozen=True)
class AuthorizeInput:
    order_id: str | None
    customer_id: str
    amount: Money
    payment_method: str
    provider: str
    capture_method: str
    idempotency_key: str
    billing_country: str | None = None
    ip_country: str | None = None
    shipping_country: str | None = None


def handle(row: Any) -> Handle:
    return Handle(reference=row.provider_reference or "", data=dict(row.provider_data or {}))


async def authorize(
    ctx: PaymentContext, session: AsyncSession, request: AuthorizeInput, *, source: str
) -> Any:
    """Create the payment and ask the provider; returns the payment row in its new status.

    Raises TransientProviderError/ProviderUnavailable (nothing is kept: roll back)."""
    gateway = ctx.gateway(request.provider)
    settings = ctx.settings
    settlement_minor, rate = await fx.settle(session, request.amount, settings.settlement_currency)
    card_country = (
        await session.execute(
            select(PAYMENT_METHODS.c.country).where(
                PAYMENT_METHODS.c.customer_id == request.customer_id,
                PAYMENT_METHODS.c.provider == request.provider,
                PAYMENT_METHODS.c.reference == request.payment_method,
            )
        )
    ).scalar_one_or_none()
    verdict = await ctx.fraud.score(
        session,
        FraudInput(
            customer_id=request.customer_id,
            amount=request.amount,
            settlement_amount_minor=settlement_minor,
            billing_country=request.billing_country,
            card_country=card_country,
            ip_country=request.ip_country,
            shipping_country=request.shipping_country,
        ),
    )
    row = await payments.create(
        session,
        NewPayment(
            order_id=request.order_id,
            customer_id=request.customer_id,
            provider=request.provider,
            capture_method=request.capture_method,
            payment_method=request.payment_method,
            amount_minor=request.amount.amount,
            currency=request.amount.currency,
            settlement_currency=settings.settlement_currency,
            settlement_amount_minor=settlement_minor,
            fx_rate=rate,
            fraud_decision=verdict.decision,
            fraud_score=verdict.score,
            fraud_reasons=verdict.reasons,
        ),
        source=source,
    )
    if verdict.decision == "block":
        return await payments.transition(
            session,
            row,
            Status.FAILED,
            action="fraud-check",
            source=source,
            detail="blocked by the fraud rules: " + ", ".join(verdict.reasons),
            failure_code="fraud_blocked",
            failure_message=", ".join(verdict.reasons)[:500],
        )
    provider_customer = (
        await session.execute(
            select(CUSTOMERS.c.provider_customer).where(
                CUSTOMERS.c.customer_id == request.customer_id,
                CUSTOMERS.c.provider == request.provider,
            )
        )
    ).scalar_one_or_none()
    metadata = {"payment_id": row.payment_id}
    if request.order_id:
        metadata["order_id"] = request.order_id
    try:
        result = await gateway.authorize(
            AuthorizeRequest(
                payment_id=row.payment_id,
                amount=request.amount,
                payment_method=request.payment_method,
                capture=request.capture_method,  # type: ignore[arg-type]
                return_url=f"{settings.return_url}?payment_id={row.payment_id}",
                provider_customer=provider_customer,
                description=f"order {request.order_id}" if request.order_id else "",
                metadata=metadata,
            ),
            idempotency_key=request.idempotency_key,
        )
    except CardDeclined as declined:
        return await _fail(session, row, declined.code or "card_declined", declined.message, source)
    except InvalidProviderRequest as refused:
        return await _fail(session, row, "invalid_request", refused.message, source)
    return await apply_outcome(session, row, result, action="authorize", source=source)


async def _fail(session: AsyncSession, row: Any, code: str, message: str, source: str) -> Any:
    return await payments.transition(
        session,
        row,
        Status.FAILED,
        action="authorize",
        source=source,
        detail=f"{code}: {message}",
        failure_code=code[:100],
        failure_message=message[:500],
    )


async def apply_outcome(
    session: AsyncSession, row: Any, result: ProviderPayment, *, action: str, source: str
) -> Any:
    """Record the provider's ids and move the (locked) payment to what the provider said.

    `pending` changes nothing but the ids (the webhook decides); an outcome that is not a legal
    move from here (stale) is recorded in the history and changes nothing."""
    values: dict[str, Any] = {}
    if result.handle.reference and result.handle.reference != row.provider_reference:
        values["provider_reference"] = result.handle.reference
    data = {**(row.provider_data or {}), **result.handle.data}
    if data != (row.provider_data or {}):
        values["provider_data"] = data
    if result.client_secret and result.client_secret != row.client_secret:
        values["client_secret"] = result.client_secret
    if values:
        row = await payments.update_fields(session, row.payment_id, **values)
    to = OUTCOME_STATUS[result.outcome]
    if to == row.status:
        await payments.record(
            session, row, action=action, source=source, detail=f"provider: {result.raw_status}"
        )
        return row
    if not can_move(row.status, to):
        await payments.record(
            session,
            row,
            action=action,
            source=source,
            detail=f"stale: provider says {result.raw_status}, payment is {row.status}",
        )
        return row
    changes: dict[str, Any] = {}
    if to == Status.REQUIRES_ACTION:
        changes["next_action"] = result.next_action
    else:
        changes["next_action"] = None
    if to == Status.CAPTURED:
        changes["captured_minor"] = result.captured_minor or row.amount_minor
    if to == Status.FAILED:
        changes["failure_code"] = (result.decline_code or "card_declined")[:100]
        changes["failure_message"] = (result.decline_message or "")[:500]
    return await payments.transition(
        session,
        row,
        to,
        action=action,
        source=source,
        amount_minor=changes.get("captured_minor"),
        detail=f"provider: {result.raw_status}",
        **changes,
    )


async def cancel(ctx: PaymentContext, session: AsyncSession, row: Any, *, source: str) -> Any:
    """Void the (locked) payment's authorization at the provider and mark it cancelled.

    A cancel the provider accepts (no error) is final: Stripe answers a failed cancel with an
    error, so its answer's status is not consulted (stripe-mock's fixture would say otherwise)."""
    if row.provider_reference:
        await ctx.gateway(row.provider).cancel(
            handle(row), idempotency_key=f"{row.payment_id}:cancel"
        )
    return await payments.transition(
        session,
        row,
        Status.CANCELLED,
        action="cancel",
        source=source,
        detail="authorization voided",
        next_action=None,
    )


async def capture(
    ctx: PaymentContext,
    session: AsyncSession,
    row: Any,
    amount_minor: int | None,
    *,
    idempotency_key: str,
    source: str,
) -> Any:
    """Capture all or part of an authorized (locked) payment; the rest of the hold is released.

    As with cancel, a capture the provider accepts is done (a failed capture is an error)."""
    amount = amount_minor if amount_minor is not None else row.amount_minor
    result = await ctx.gateway(row.provider).capture(
        handle(row), amount, idempotency_key=idempotency_key
    )
    values: dict[str, Any] = {"captured_minor": amount}
    data = {**(row.provider_data or {}), **result.handle.data}
    if data != (row.provider_data or {}):
        values["provider_data"] = data
    return await payments.transition(
        session,
        row,
        Status.CAPTURED,
        action="capture",
        source=source,
        amount_minor=amount,
        detail=f"captured {amount} of {row.amount_minor} {row.currency}",
        **values,
    )


async def refresh(ctx: PaymentContext, session: AsyncSession, row: Any, *, source: str) -> Any:
    """Ask the provider where the (locked) payment stands now: the shopper's return from 3-D
    Secure or a PayPal approval. Applied like any answer (`apply_outcome`)."""
    if not row.provider_reference:
        return row
    result = await ctx.gateway(row.provider).retrieve(handle(row))
    return await apply_outcome(session, row, result, action="return", source=source)
