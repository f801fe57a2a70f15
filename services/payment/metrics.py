"""Prometheus metrics of the payment service, kept live as payments move.

    payments_total{provider,status}              transitions into each status (created: pending)
    payment_declines_total{provider,code}        payments that failed, by failure code
    payment_refunds_total{provider}              refunds that moved money (refunded_minor grew)
    payment_refunded_minor_total{currency}       ... and how much, in minor units
    payment_disputes_total{provider}             payments that became disputed
    payment_volume_minor_total{currency}         captured amounts, in minor units
    payment_provider_seconds{provider,operation} provider call latency (histogram)

`payments.create` and `payments.transition` call `observe_transition`; the counters move only
once the transaction has committed (`kommerce.events.participant.after_commit`), and not at all
if it, or the savepoint the change was made in, rolls back — so the metrics agree with the
`payments` table, which `analytics.py` reads for the same facts over a period. Currency
amounts are per currency (minor units of different currencies never add up).

The metrics live in a module-level `PaymentMetrics` that the app installs at start
(`install(PaymentMetrics(registry))`); with none installed (unit code, tests without an app)
observing is a no-op.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from kommerce.events.participant import after_commit

PROVIDER_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Decline codes become label values: keep them to a bounded, well-formed set.
_CODE = re.compile(r"^[a-z0-9_.-]{1,40}$")
_CAPTURING = frozenset({"pending", "requires_action", "authorized"})
_REFUNDED = frozenset({"partially_refunded", "refunded"})


def decline_label(code: str | None) -> str:
    if not code:
        return "unknown"
    code = code.strip().lower()
    return code if _CODE.match(code) else "other"


@dataclass(frozen=True)
class Observation:
    """What one committed status change adds to the metrics."""

    provider: str
    status: str
    previous: str | None
    currency: str
    failure_code: str | None
    captured_minor: int  # newly captured
    refunded_minor: int  # newly refunded
    refund_known: bool = True  # False: made without the row before the move


def observation(previous: str | None, row: Any, *, before: Any = None) -> Observation:
    """The change from `before` (the row before the move; None when created) to `row`.

    Without `before`, money deltas are inferred from the statuses: a move into `captured` from
    before the capture captured `row.captured_minor`; refund amounts are then unknown (0)."""
    if before is not None and hasattr(before, "captured_minor"):
        captured = row.captured_minor - before.captured_minor
        refunded = row.refunded_minor - before.refunded_minor
    elif previous is None:
        captured, refunded = row.captured_minor, row.refunded_minor
    else:
        captured = row.captured_minor if previous in _CAPTURING and row.status == "captured" else 0
        refunded = 0
    return Observation(
        refund_known=hasattr(before, "refunded_minor") or previous is None,
        provider=row.provider,
        status=row.status,
        previous=previous,
        currency=row.currency,
        failure_code=row.failure_code,
        captured_minor=max(captured, 0),
        refunded_minor=max(refunded, 0),
    )


class PaymentMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.payments = Counter(
            "payments_total",
            "Payment status transitions, by the status moved into",
            ["provider", "status"],
            registry=registry,
        )
        self.declines = Counter(
            "payment_declines_total",
            "Payments that failed, by failure (decline) code",
            ["provider", "code"],
            registry=registry,
        )
        self.refunds = Counter(
            "payment_refunds_total", "Refunds applied to payments", ["provider"], registry=registry
        )
        self.refunded_minor = Counter(
            "payment_refunded_minor_total",
            "Refunded amount in minor units of the payment currency",
            ["currency"],
            registry=registry,
        )
        self.disputes = Counter(
            "payment_disputes_total",
            "Payments that became disputed",
            ["provider"],
            registry=registry,
        )
        self.volume_minor = Counter(
            "payment_volume_minor_total",
            "Captured amount in minor units of the payment currency",
            ["currency"],
            registry=registry,
        )
        self.provider_seconds = Histogram(
            "payment_provider_seconds",
            "Payment provider call latency",
            ["provider", "operation"],
            buckets=PROVIDER_BUCKETS,
            registry=registry,
        )

    def count(self, seen: Observation) -> None:
        self.payments.labels(seen.provider, seen.status).inc()
        if seen.status == "failed" and seen.previous != "failed":
            self.declines.labels(seen.provider, decline_label(seen.failure_code)).inc()
        if seen.status == "disputed" and seen.previous != "disputed":
            self.disputes.labels(seen.provider).inc()
        if seen.captured_minor > 0:
            self.volume_minor.labels(seen.currency).inc(seen.captured_minor)
        if seen.refunded_minor > 0:
            self.refunds.labels(seen.provider).inc()
            self.refunded_minor.labels(seen.currency).inc(seen.refunded_minor)
        elif not seen.refund_known and seen.status in _REFUNDED and seen.previous != "disputed":
            self.refunds.labels(seen.provider).inc()  # a refund of an unknown amount

    def observe_provider(self, provider: str, operation: str, seconds: float) -> None:
        self.provider_seconds.labels(provider, operation).observe(seconds)


_metrics: PaymentMetrics | None = None


def install(metrics: PaymentMetrics | None) -> None:
    """The metrics `observe_transition` and `timed` update (None: observing does nothing)."""
    global _metrics
    _metrics = metrics


def installed() -> PaymentMetrics | None:
    return _metrics


def observe_transition(
    session: AsyncSession, previous: str | None, row: Any, *, before: Any = None
) -> None:
    """Count the move of `row` from `previous` once `session`'s transaction commits.

    `before` (the row before the move) gives exact captured and refunded amounts. Nothing is
    counted if the transaction, or the savepoint the move was made in, rolls back."""
    metrics = _metrics
    if metrics is None:
        return
    seen = observation(previous, row, before=before)
    sync = session.sync_session
    made_in = sync.get_nested_transaction() or sync.get_transaction()
    undone = False

    def rolled_back(_session: Session, previous_transaction: SessionTransaction) -> None:
        nonlocal undone
        transaction = made_in
        while transaction is not None:
            if transaction is previous_transaction:
                undone = True
                return
            transaction = transaction.parent

    event.listen(sync, "after_soft_rollback", rolled_back)

    async def count() -> None:
        event.remove(sync, "after_soft_rollback", rolled_back)
        if not undone:
            metrics.count(seen)

    after_commit(session, count)


@contextmanager
def timed(provider: str, operation: str) -> Iterator[None]:
    """Time a provider call into `payment_provider_seconds` (errors included)."""
    metrics = _metrics
    start = time.perf_counter()
    try:
        yield
    finally:
        if metrics is not None:
            metrics.observe_provider(provider, operation, time.perf_counter() - start)
