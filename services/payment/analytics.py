"""Payment analytics over a period, computed in SQL (four aggregate queries, no per-row Python).

Every figure is about the payments CREATED in `[since, until)` (a cohort: a refund or dispute
made later still counts for the period its payment was created in):

- authorization rate: payments that reached `authorized` or beyond (a history row into
  `authorized` or `captured`: a payment authorized and then voided counts) / payments decided
  (every status but `pending` and `requires_action`);
- declines: the `failed` payments by `failure_code` (`unknown` when none; `fraud_blocked` for
  the fraud rules' blocks);
- refund rate: captured payments (`captured_minor > 0`) with any refund (`refunded_minor > 0`)
  / captured payments; per currency, refunded amount / captured amount;
- dispute rate: disputes (rows in `disputes`, whatever their outcome) / captured payments;
- volume per currency: captured amount (minor units) and count of captured payments.

Rates are None when their denominator is 0. `metrics.py` keeps the same facts live as
Prometheus counters.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.payment.states import CAPTURED_STATES, Status
from services.payment.tables import DISPUTES, PAYMENT_HISTORY, PAYMENTS

UNDECIDED = (Status.PENDING.value, Status.REQUIRES_ACTION.value)
REACHED_AUTHORIZATION = (Status.AUTHORIZED.value, Status.CAPTURED.value)
AUTHORIZED_OR_BEYOND = tuple(sorted({Status.AUTHORIZED.value, *CAPTURED_STATES}))
RATE_DIGITS = 6


class AuthorizationRate(BaseModel):
    decided: int = Field(description="payments no longer pending or requiring action")
    authorized: int = Field(description="of those, payments that reached authorized or beyond")
    rate: float | None = Field(description="authorized / decided; null if none decided")


class DeclineReason(BaseModel):
    code: str = Field(description="the failure (decline) code; `unknown` when none")
    count: int


class RefundRate(BaseModel):
    captured_payments: int
    refunded_payments: int = Field(description="captured payments with any refund")
    rate: float | None = Field(description="refunded / captured payments")


class DisputeRate(BaseModel):
    disputes: int
    captured_payments: int
    rate: float | None = Field(description="disputes / captured payments")


class CurrencyVolume(BaseModel):
    currency: str = Field(description="ISO 4217")
    captured_payments: int
    captured_minor: int = Field(description="captured amount, integer minor units")
    refunded_minor: int = Field(description="refunded amount, integer minor units")
    refund_amount_rate: float | None = Field(description="refunded_minor / captured_minor")


class PaymentAnalytics(BaseModel):
    since: datetime
    until: datetime
    payments: int = Field(description="payments created in [since, until)")
    authorization: AuthorizationRate
    failed: int
    declines: list[DeclineReason] = Field(description="most frequent first")
    refunds: RefundRate
    disputes: DisputeRate
    volume: list[CurrencyVolume] = Field(description="per currency, by currency code")


def rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, RATE_DIGITS) if denominator else None


async def report(session: AsyncSession, since: datetime, until: datetime) -> PaymentAnalytics:
    p = PAYMENTS.c
    period = and_(p.created_at >= since, p.created_at < until)
    reached = or_(
        p.status.in_(AUTHORIZED_OR_BEYOND),
        exists().where(
            PAYMENT_HISTORY.c.payment_id == p.payment_id,
            PAYMENT_HISTORY.c.to_status.in_(REACHED_AUTHORIZATION),
        ),
    )
    decided = p.status.not_in(UNDECIDED)
    captured = p.captured_minor > 0

    totals = (
        await session.execute(
            select(
                func.count().label("payments"),
                func.count().filter(decided).label("decided"),
                func.count().filter(and_(decided, reached)).label("authorized"),
                func.count().filter(p.status == Status.FAILED.value).label("failed"),
                func.count().filter(captured).label("captured"),
                func.count().filter(and_(captured, p.refunded_minor > 0)).label("refunded"),
            ).where(period)
        )
    ).one()

    code = func.coalesce(func.nullif(p.failure_code, ""), "unknown")
    declines = (
        await session.execute(
            select(code.label("code"), func.count().label("count"))
            .where(period, p.status == Status.FAILED.value)
            .group_by(code)
            .order_by(func.count().desc(), code)
        )
    ).all()

    volume = (
        await session.execute(
            select(
                p.currency,
                func.count().label("payments"),
                func.sum(p.captured_minor).label("captured"),
                func.sum(p.refunded_minor).label("refunded"),
            )
            .where(period, captured)
            .group_by(p.currency)
            .order_by(p.currency)
        )
    ).all()

    disputes = (
        await session.scalar(
            select(func.count())
            .select_from(DISPUTES.join(PAYMENTS, DISPUTES.c.payment_id == p.payment_id))
            .where(period)
        )
    ) or 0

    return PaymentAnalytics(
        since=since,
        until=until,
        payments=totals.payments,
        authorization=AuthorizationRate(
            decided=totals.decided,
            authorized=totals.authorized,
            rate=rate(totals.authorized, totals.decided),
        ),
        failed=totals.failed,
        declines=[DeclineReason(code=d.code, count=d.count) for d in declines],
        refunds=RefundRate(
            captured_payments=totals.captured,
            refunded_payments=totals.refunded,
            rate=rate(totals.refunded, totals.captured),
        ),
        disputes=DisputeRate(
            disputes=disputes,
            captured_payments=totals.captured,
            rate=rate(disputes, totals.captured),
        ),
        volume=[
            CurrencyVolume(
                currency=v.currency,
                captured_payments=v.payments,
                captured_minor=int(v.captured),
                refunded_minor=int(v.refunded),
                refund_amount_rate=rate(int(v.refunded), int(v.captured)),
            )
            for v in volume
        ],
    )
