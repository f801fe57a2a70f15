"""What each payment move adds to the Prometheus metrics, and that nothing is counted before the
transaction commits (or at all when it rolls back). Savepoint rollbacks need a database: see
tests/integration/payment_service/test_analytics.py."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncSession

from services.payment import metrics
from services.payment.metrics import PaymentMetrics, decline_label, observation

pytestmark = pytest.mark.unit


def row(status: str, **values: Any) -> SimpleNamespace:
    fields: dict[str, Any] = {
        "provider": "stripe",
        "status": status,
        "currency": "EUR",
        "failure_code": None,
        "captured_minor": 0,
        "refunded_minor": 0,
        **values,
    }
    return SimpleNamespace(**fields)


class Book:
    """A fresh registry and PaymentMetrics, with short names to read the samples."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.metrics = PaymentMetrics(self.registry)

    def value(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0

    def move(self, previous: Any, now: Any) -> None:
        """Count a move from row `previous` (None: created) to row `now`."""
        self.metrics.count(
            observation(None if previous is None else previous.status, now, before=previous)
        )


@pytest.fixture
def book() -> Book:
    return Book()


@pytest.fixture
def installed(book: Book) -> Iterator[Book]:
    metrics.install(book.metrics)
    yield book
    metrics.install(None)


async def settle() -> None:
    """Let the after-commit jobs (tasks created at commit) run."""
    for _ in range(3):
        await asyncio.sleep(0)


def test_every_move_counts_into_its_status(book: Book) -> None:
    created = row("pending")
    authorized = row("authorized")
    captured = row("captured", captured_minor=2_500)
    book.move(None, created)
    book.move(created, authorized)
    book.move(authorized, captured)
    for status in ("pending", "authorized", "captured"):
        assert book.value("payments_total", provider="stripe", status=status) == 1
    assert book.value("payment_volume_minor_total", currency="EUR") == 2_500


def test_volume_is_per_currency_in_minor_units(book: Book) -> None:
    book.move(
        row("authorized", currency="JPY"), row("captured", currency="JPY", captured_minor=1200)
    )
    book.move(row("pending", currency="KWD"), row("captured", currency="KWD", captured_minor=1_250))
    book.move(row("authorized"), row("captured", captured_minor=999))
    assert book.value("payment_volume_minor_total", currency="JPY") == 1_200
    assert book.value("payment_volume_minor_total", currency="KWD") == 1_250
    assert book.value("payment_volume_minor_total", currency="EUR") == 999


def test_refunds_count_each_refund_and_its_amount(book: Book) -> None:
    captured = row("captured", captured_minor=1_000)
    part = row("partially_refunded", captured_minor=1_000, refunded_minor=300)
    more = row("partially_refunded", captured_minor=1_000, refunded_minor=500)
    full = row("refunded", captured_minor=1_000, refunded_minor=1_000)
    book.move(captured, part)
    book.move(part, more)
    book.move(more, full)
    assert book.value("payment_refunds_total", provider="stripe") == 3
    assert book.value("payment_refunded_minor_total", currency="EUR") == 1_000
    assert book.value("payments_total", provider="stripe", status="partially_refunded") == 2
    assert book.value("payments_total", provider="stripe", status="refunded") == 1
    assert book.value("payment_volume_minor_total", currency="EUR") == 0


def test_a_dispute_counts_once_and_winning_it_is_not_a_refund(book: Book) -> None:
    part = row("partially_refunded", provider="paypal", captured_minor=1_000, refunded_minor=200)
    disputed = row("disputed", provider="paypal", captured_minor=1_000, refunded_minor=200)
    book.move(part, disputed)
    book.move(disputed, part)  # won: back to what it was
    assert book.value("payment_disputes_total", provider="paypal") == 1
    assert book.value("payment_refunds_total", provider="paypal") == 0
    assert book.value("payment_volume_minor_total", currency="EUR") == 0


def test_declines_are_counted_by_code(book: Book) -> None:
    book.move(row("pending"), row("failed", failure_code="card_declined"))
    book.move(row("requires_action"), row("failed", failure_code="card_declined"))
    book.move(row("pending", provider="paypal"), row("failed", provider="paypal"))
    assert book.value("payment_declines_total", provider="stripe", code="card_declined") == 2
    assert book.value("payment_declines_total", provider="paypal", code="unknown") == 1
    assert book.value("payments_total", provider="stripe", status="failed") == 2


@pytest.mark.parametrize(
    ("code", "label"),
    [
        (None, "unknown"),
        ("", "unknown"),
        ("insufficient_funds", "insufficient_funds"),
        ("  Card_Declined ", "card_declined"),
        ("INSTRUMENT_DECLINED", "instrument_declined"),
        ("not a code!", "other"),
        ("x" * 41, "other"),
    ],
)
def test_decline_labels_are_bounded(code: str | None, label: str) -> None:
    assert decline_label(code) == label


def test_without_the_previous_row_amounts_are_inferred(book: Book) -> None:
    captured = row("captured", captured_minor=700)
    book.metrics.count(observation("authorized", captured))
    book.metrics.count(observation("captured", row("refunded", captured_minor=700)))
    book.metrics.count(observation("disputed", row("refunded", captured_minor=700)))
    assert book.value("payment_volume_minor_total", currency="EUR") == 700
    # a refund of an unknown amount: counted, no amount; the dispute won is no refund
    assert book.value("payment_refunds_total", provider="stripe") == 1
    assert book.value("payment_refunded_minor_total", currency="EUR") == 0


def test_provider_latency_is_timed_also_when_the_call_fails(installed: Book) -> None:
    with metrics.timed("stripe", "authorize"):
        pass
    with pytest.raises(RuntimeError), metrics.timed("stripe", "authorize"):
        raise RuntimeError("boom")
    assert (
        installed.value("payment_provider_seconds_count", provider="stripe", operation="authorize")
        == 2
    )


def test_timing_without_metrics_installed_does_nothing() -> None:
    metrics.install(None)
    with metrics.timed("stripe", "capture"):
        pass


async def test_moves_are_counted_only_once_the_transaction_commits(installed: Book) -> None:
    async with AsyncSession() as session:
        async with session.begin():
            metrics.observe_transition(session, None, row("pending"))
            metrics.observe_transition(
                session, "pending", row("captured", captured_minor=50), before=row("pending")
            )
            await settle()
            assert installed.value("payments_total", provider="stripe", status="pending") == 0
        await settle()
    assert installed.value("payments_total", provider="stripe", status="pending") == 1
    assert installed.value("payments_total", provider="stripe", status="captured") == 1
    assert installed.value("payment_volume_minor_total", currency="EUR") == 50


async def test_moves_in_a_rolled_back_transaction_are_not_counted(installed: Book) -> None:
    async with AsyncSession() as session:
        await session.begin()
        metrics.observe_transition(session, None, row("pending"))
        await session.rollback()
        # the same session commits something else later: still not counted
        async with session.begin():
            pass
        await settle()
    assert installed.value("payments_total", provider="stripe", status="pending") == 0


async def test_observing_without_metrics_installed_is_a_no_op() -> None:
    metrics.install(None)
    async with AsyncSession() as session, session.begin():
        metrics.observe_transition(session, None, row("pending"))
    await settle()
