"""Payment analytics (SQL) and the live Prometheus metrics on the real payment app and
PostgreSQL: a known mix of payments in EUR, JPY and KWD, moved through `payments.create` and
`payments.transition` (with refund and dispute rows), then exact rates and volumes from the
report, from `GET /v1/payments/analytics` and from the app's metrics registry."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import insert, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.payment import analytics, metrics, payments
from services.payment.payments import NewPayment, new_id
from services.payment.states import Status
from services.payment.tables import DISPUTES, PAYMENTS, REFUNDS
from tests.integration.payment_service.harness import Payments, running
from tests.tokens import TokenMinter

pytestmark = pytest.mark.integration

S = Status


@dataclass
class Mix:
    pay: Payments
    old_payment: str


async def create(
    session: AsyncSession, amount: int, currency: str, provider: str = "stripe"
) -> Any:
    return await payments.create(
        session,
        NewPayment(
            order_id=None,
            customer_id=f"cus-{uuid.uuid4()}",
            provider=provider,
            capture_method="manual",
            payment_method="pm_card_visa" if provider == "stripe" else "paypal",
            amount_minor=amount,
            currency=currency,
            settlement_currency="EUR",
            settlement_amount_minor=amount,
            fx_rate=Decimal(1),
        ),
        source="test",
    )


async def walk(session: AsyncSession, row: Any, *moves: tuple[Status, dict[str, Any]]) -> Any:
    for to, values in moves:
        row = await payments.transition(session, row, to, action=to.value, source="test", **values)
    return row


def to(status: Status, **values: Any) -> tuple[Status, dict[str, Any]]:
    return status, values


async def refund(session: AsyncSession, row: Any, amount: int) -> None:
    await session.execute(
        insert(REFUNDS).values(
            refund_id=new_id("rf"),
            payment_id=row.payment_id,
            request_key=str(uuid.uuid4()),
            amount_minor=amount,
            currency=row.currency,
            status="succeeded",
        )
    )


async def dispute(session: AsyncSession, row: Any) -> None:
    await session.execute(
        insert(DISPUTES).values(
            dispute_id=new_id("dsp"),
            payment_id=row.payment_id,
            provider_reference=f"dp_{uuid.uuid4().hex}",
            amount_minor=row.captured_minor,
            currency=row.currency,
            reason="fraudulent",
            provider_status="needs_response",
            status="open",
        )
    )


async def settle() -> None:
    """Let the metrics' after-commit jobs run (tasks scheduled at each commit)."""
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.fixture(scope="module")
async def mix(stack_env: dict[str, str], minter: TokenMinter) -> AsyncIterator[Mix]:
    async with running(minter) as pay:
        db = pay.db
        async with db.session() as s:
            # EUR, Stripe
            e1 = await walk(
                s,
                await create(s, 10_000, "EUR"),
                to(S.AUTHORIZED),
                to(S.CAPTURED, captured_minor=10_000),
                to(S.PARTIALLY_REFUNDED, refunded_minor=2_500),
            )
            await refund(s, e1, 2_500)
            e2 = await walk(
                s,
                await create(s, 5_000, "EUR"),
                to(S.AUTHORIZED),
                to(S.CAPTURED, captured_minor=5_000),
                to(S.DISPUTED),
            )
            await dispute(s, e2)
            await walk(s, await create(s, 700, "EUR"), to(S.FAILED, failure_code="card_declined"))
            await walk(
                s, await create(s, 800, "EUR"), to(S.FAILED, failure_code="insufficient_funds")
            )
            e5 = await create(s, 900, "EUR")  # still pending
            await walk(s, await create(s, 1_000, "EUR"), to(S.REQUIRES_ACTION))
            await walk(s, await create(s, 1_100, "EUR"), to(S.AUTHORIZED), to(S.CANCELLED))
            # JPY, PayPal
            j1 = await walk(
                s,
                await create(s, 12_000, "JPY", "paypal"),
                to(S.CAPTURED, captured_minor=12_000),
                to(S.REFUNDED, refunded_minor=12_000),
            )
            await refund(s, j1, 12_000)
            await walk(
                s,
                await create(s, 3_000, "JPY", "paypal"),
                to(S.FAILED, failure_code="card_declined"),
            )
            await walk(s, await create(s, 4_000, "JPY", "paypal"), to(S.CANCELLED))  # abandoned
            # KWD, Stripe: a partial capture; a failure without a code
            await walk(
                s,
                await create(s, 1_500, "KWD"),
                to(S.AUTHORIZED),
                to(S.CAPTURED, captured_minor=1_250),
            )
            await walk(s, await create(s, 2_000, "KWD"), to(S.FAILED))
            # 40 days old: outside the default period
            old = await walk(
                s, await create(s, 99_999, "EUR"), to(S.CAPTURED, captured_minor=99_999)
            )
            await s.execute(
                update(PAYMENTS)
                .where(PAYMENTS.c.payment_id == old.payment_id)
                .values(created_at=PAYMENTS.c.created_at - text("interval '40 days'"))
            )
            # undone in a savepoint: in neither the table nor the metrics
            savepoint = await s.begin_nested()
            await walk(s, e5, to(S.FAILED, failure_code="card_declined"))
            await savepoint.rollback()

        # undone with its transaction
        async def abandoned() -> None:
            async with db.session() as s:
                await walk(s, await create(s, 5_000, "KWD"), to(S.AUTHORIZED))
                raise RuntimeError("abandon")

        with pytest.raises(RuntimeError, match="abandon"):
            await abandoned()
        await settle()
        yield Mix(pay, old.payment_id)


async def report(mix: Mix, since: datetime, until: datetime) -> analytics.PaymentAnalytics:
    async with mix.pay.db.session() as session:
        return await analytics.report(session, since, until)


def last_month() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(days=30), now + timedelta(seconds=1)


EXPECTED: dict[str, Any] = {
    "payments": 12,
    "authorization": {"decided": 10, "authorized": 5, "rate": 0.5},
    "failed": 4,
    "declines": [
        {"code": "card_declined", "count": 2},
        {"code": "insufficient_funds", "count": 1},
        {"code": "unknown", "count": 1},
    ],
    "refunds": {"captured_payments": 4, "refunded_payments": 2, "rate": 0.5},
    "disputes": {"disputes": 1, "captured_payments": 4, "rate": 0.25},
    "volume": [
        {
            "currency": "EUR",
            "captured_payments": 2,
            "captured_minor": 15_000,
            "refunded_minor": 2_500,
            "refund_amount_rate": 0.166667,
        },
        {
            "currency": "JPY",
            "captured_payments": 1,
            "captured_minor": 12_000,
            "refunded_minor": 12_000,
            "refund_amount_rate": 1.0,
        },
        {
            "currency": "KWD",
            "captured_payments": 1,
            "captured_minor": 1_250,
            "refunded_minor": 0,
            "refund_amount_rate": 0.0,
        },
    ],
}


async def test_report_over_the_last_month(mix: Mix) -> None:
    since, until = last_month()
    got = (await report(mix, since, until)).model_dump(exclude={"since", "until"})
    assert got == EXPECTED


async def test_a_longer_period_takes_the_old_payment_in(mix: Mix) -> None:
    now = datetime.now(UTC)
    got = await report(mix, now - timedelta(days=45), now + timedelta(seconds=1))
    assert got.payments == 13
    assert got.authorization.decided == 11
    assert got.authorization.authorized == 6
    assert got.refunds.captured_payments == 5
    assert got.disputes.rate == 0.2
    assert [(v.currency, v.captured_minor) for v in got.volume] == [
        ("EUR", 114_999),
        ("JPY", 12_000),
        ("KWD", 1_250),
    ]


async def test_an_empty_period_has_no_rates(mix: Mix) -> None:
    now = datetime.now(UTC)
    got = await report(mix, now - timedelta(days=400), now - timedelta(days=366))
    assert got.payments == 0
    assert got.authorization.rate is None
    assert got.refunds.rate is None
    assert got.disputes.rate is None
    assert got.declines == []
    assert got.volume == []


async def test_api_defaults_to_the_last_30_days(mix: Mix) -> None:
    r = await mix.pay.http.get("/v1/payments/analytics", headers=mix.pay.staff)
    assert r.status_code == 200, r.text
    body = r.json()
    since = datetime.fromisoformat(body.pop("since"))
    until = datetime.fromisoformat(body.pop("until"))
    assert until - since == timedelta(days=30)
    assert body == EXPECTED


async def test_api_takes_an_explicit_period(mix: Mix) -> None:
    now = datetime.now(UTC)
    r = await mix.pay.http.get(
        "/v1/payments/analytics",
        params={
            "since": (now - timedelta(days=45)).isoformat(),
            "until": (now + timedelta(minutes=1)).isoformat(),
        },
        headers=mix.pay.minter.bearer(roles=["support"]),
    )
    assert r.status_code == 200, r.text
    assert r.json()["payments"] == 13


@pytest.mark.parametrize(
    ("since", "until"),
    [
        ("2026-02-01T00:00:00Z", "2026-01-01T00:00:00Z"),  # backwards
        ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),  # empty
        ("2025-01-01T00:00:00Z", "2026-01-03T00:00:00Z"),  # 367 days
    ],
)
async def test_api_refuses_a_bad_period(mix: Mix, since: str, until: str) -> None:
    r = await mix.pay.http.get(
        "/v1/payments/analytics",
        params={"since": since, "until": until},
        headers=mix.pay.staff,
    )
    assert r.status_code == 422, r.text
    assert r.json()["type"].endswith("invalid-period")


async def test_api_takes_366_days_and_naive_datetimes_as_utc(mix: Mix) -> None:
    r = await mix.pay.http.get(
        "/v1/payments/analytics",
        params={"since": "2024-01-01T00:00:00", "until": "2025-01-01T00:00:00"},  # leap year
        headers=mix.pay.staff,
    )
    assert r.status_code == 200, r.text
    assert r.json()["since"] == "2024-01-01T00:00:00Z"
    assert r.json()["payments"] == 0


async def test_api_needs_payments_read(mix: Mix) -> None:
    path = "/v1/payments/analytics"
    assert (await mix.pay.http.get(path)).status_code == 401
    _, shopper = mix.pay.shopper()
    assert (await mix.pay.http.get(path, headers=shopper)).status_code == 403


async def test_metrics_count_the_same_committed_facts(mix: Mix) -> None:
    installed = metrics.installed()  # by the app at start, on its registry
    assert installed is not None

    def v(name: str, **labels: str) -> float:
        return installed.registry.get_sample_value(name, labels) or 0.0

    # 13 created (12 + the old one); the savepoint's failure and the rolled back one are not
    assert v("payments_total", provider="stripe", status="pending") == 10
    assert v("payments_total", provider="paypal", status="pending") == 3
    assert v("payments_total", provider="stripe", status="authorized") == 4
    assert v("payments_total", provider="stripe", status="captured") == 4
    assert v("payments_total", provider="paypal", status="captured") == 1
    assert v("payments_total", provider="stripe", status="failed") == 3
    assert v("payments_total", provider="paypal", status="failed") == 1
    assert v("payments_total", provider="stripe", status="requires_action") == 1
    assert v("payments_total", provider="stripe", status="cancelled") == 1
    assert v("payments_total", provider="paypal", status="cancelled") == 1
    assert v("payment_declines_total", provider="stripe", code="card_declined") == 1
    assert v("payment_declines_total", provider="stripe", code="insufficient_funds") == 1
    assert v("payment_declines_total", provider="stripe", code="unknown") == 1
    assert v("payment_declines_total", provider="paypal", code="card_declined") == 1
    assert v("payment_refunds_total", provider="stripe") == 1
    assert v("payment_refunds_total", provider="paypal") == 1
    assert v("payment_refunded_minor_total", currency="EUR") == 2_500
    assert v("payment_refunded_minor_total", currency="JPY") == 12_000
    assert v("payment_disputes_total", provider="stripe") == 1
    assert v("payment_volume_minor_total", currency="EUR") == 114_999
    assert v("payment_volume_minor_total", currency="JPY") == 12_000
    assert v("payment_volume_minor_total", currency="KWD") == 1_250


async def test_metrics_are_scraped_from_the_app(mix: Mix) -> None:
    r = await mix.pay.http.get("/metrics")
    assert r.status_code == 200
    assert 'payment_volume_minor_total{currency="KWD"} 1250.0' in r.text
    assert "payment_provider_seconds" in r.text
