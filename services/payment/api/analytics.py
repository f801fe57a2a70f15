"""Payment analytics API (staff: `payments:read`): authorization, decline, refund and dispute
rates and the captured volume per currency for the payments created in a period.

Mounted BEFORE the payments router: `/v1/payments/{payment_id}` would otherwise take
`/v1/payments/analytics` (and answer 422 for a malformed payment id)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from kommerce.http.errors import Problem
from kommerce.http.responses import problems
from services.payment import analytics
from services.payment.analytics import PaymentAnalytics
from services.payment.api.common import Context, Reader

DEFAULT_PERIOD = timedelta(days=30)
MAX_PERIOD = timedelta(days=366)

router = APIRouter(
    prefix="/v1/payments/analytics", tags=["payments"], responses=problems(401, 403, 422)
)


class InvalidPeriod(Problem):
    status, slug, title = 422, "invalid-period", "Invalid analytics period"


def _utc(moment: datetime) -> datetime:
    """A datetime without an offset is taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def period(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    """The period asked for: until defaults to now, since to 30 days before until."""
    end = _utc(until) if until is not None else datetime.now(UTC)
    start = _utc(since) if since is not None else end - DEFAULT_PERIOD
    if start >= end:
        raise InvalidPeriod(f"since ({start.isoformat()}) must be before until ({end.isoformat()})")
    if end - start > MAX_PERIOD:
        raise InvalidPeriod(f"the period is longer than {MAX_PERIOD.days} days")
    return start, end


@router.get(
    "",
    response_model=PaymentAnalytics,
    summary="Payment analytics for a period",
    description="Figures for the payments created in [since, until): authorization rate, "
    "decline reasons, refund and dispute rates, captured volume per currency (integer minor "
    "units). Defaults: the last 30 days; at most 366 days. Datetimes without an offset are UTC.",
)
async def get_analytics(
    ctx: Context,
    _reader: Reader,
    since: Annotated[
        datetime | None, Query(description="start, inclusive (ISO 8601); default until - 30 days")
    ] = None,
    until: Annotated[
        datetime | None, Query(description="end, exclusive (ISO 8601); default now")
    ] = None,
) -> PaymentAnalytics:
    start, end = period(since, until)
    async with ctx.db.session() as session:
        return await analytics.report(session, start, end)
