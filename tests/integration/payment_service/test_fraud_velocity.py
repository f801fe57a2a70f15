"""The velocity rule counts the customer's payments in the window from the real `payments`
table (PostgreSQL), through its (customer_id, created_at) index."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import text, update

from kommerce.data.db import Database
from kommerce.money import Money
from services.payment import payments
from services.payment.fraud import FraudInput, RulesEngine, recent_payments
from services.payment.payments import NewPayment
from services.payment.settings import PaymentSettings
from services.payment.tables import PAYMENTS

pytestmark = pytest.mark.integration

SETTINGS = PaymentSettings(
    fraud_velocity_window_seconds=600,
    fraud_velocity_review=3,
    fraud_velocity_block=5,
    fraud_review_amount_minor=100_000,
    fraud_block_amount_minor=1_000_000,
)


def request(customer_id: str) -> FraudInput:
    return FraudInput(
        customer_id=customer_id,
        amount=Money(amount=1_000, currency="EUR"),
        settlement_amount_minor=1_000,
        billing_country="DE",
        card_country="DE",
        ip_country="DE",
        shipping_country="DE",
    )


async def pay(db: Database, customer_id: str, count: int) -> list[str]:
    async with db.session() as session:
        rows = [
            await payments.create(
                session,
                NewPayment(
                    order_id=None,
                    customer_id=customer_id,
                    provider="stripe",
                    capture_method="manual",
                    payment_method="pm_card_visa",
                    amount_minor=1_000,
                    currency="EUR",
                    settlement_currency="EUR",
                    settlement_amount_minor=1_000,
                    fx_rate=Decimal(1),
                ),
                source="test",
            )
            for _ in range(count)
        ]
    return [r.payment_id for r in rows]


async def verdict_for(db: Database, customer_id: str) -> tuple[str, tuple[str, ...]]:
    async with db.session() as session:
        v = await RulesEngine(SETTINGS).score(session, request(customer_id))
    return v.decision, v.reasons


async def test_velocity_reviews_then_blocks_and_forgets_old_payments(payment_db: Database) -> None:
    customer, other = f"cus-{uuid.uuid4()}", f"cus-{uuid.uuid4()}"
    await pay(payment_db, other, 6)  # someone else's payments never count

    assert await verdict_for(payment_db, customer) == ("allow", ())
    first = await pay(payment_db, customer, 3)
    assert await verdict_for(payment_db, customer) == ("review", ("velocity:3/600s",))
    await pay(payment_db, customer, 2)
    assert await verdict_for(payment_db, customer) == ("block", ("velocity:5/600s",))

    # three of them fall out of the window
    async with payment_db.session() as session:
        await session.execute(
            update(PAYMENTS)
            .where(PAYMENTS.c.payment_id.in_(first))
            .values(created_at=PAYMENTS.c.created_at - text("interval '601 seconds'"))
        )
        assert await recent_payments(session, customer, 600) == 2
        assert await recent_payments(session, customer, 3600) == 5
    assert await verdict_for(payment_db, customer) == ("allow", ())


async def test_guests_are_not_counted_together(payment_db: Database) -> None:
    await pay(payment_db, "", 6)
    assert await verdict_for(payment_db, "") == ("allow", ())


async def test_the_count_can_use_the_customer_created_index(payment_db: Database) -> None:
    async with payment_db.session() as session:
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(
            (
                await session.execute(
                    text(
                        "EXPLAIN SELECT count(*) FROM payments WHERE customer_id = :c "
                        "AND created_at > now() - interval '600 seconds'"
                    ),
                    {"c": "cus-x"},
                )
            ).scalars()
        )
    assert "payments_customer_created_idx" in plan
