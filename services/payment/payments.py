"""Payments: creating one, finding and locking it, and the one function that changes a status.

`transition()` is the only code that moves a payment: it checks the move against states.py,
updates the row (and any money columns given), writes a history row (what, how much, caused by
whom) and records `payment.status_changed` in the same transaction. `record()` writes a history
row without a status change (a refund requested, a stale webhook).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.http.errors import NotFound
from services.payment import events, metrics
from services.payment.states import IllegalTransition, Status, can_move
from services.payment.tables import PAYMENT_HISTORY, PAYMENTS


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


class PaymentNotFound(NotFound):
    slug = "payment-not-found"


@dataclass(frozen=True)
class NewPayment:
    order_id: str | None
    customer_id: str
    provider: str
    capture_method: str
    payment_method: str
    amount_minor: int
    currency: str
    settlement_currency: str
    settlement_amount_minor: int
    fx_rate: Decimal
    fraud_decision: str = "allow"
    fraud_score: int = 0
    fraud_reasons: tuple[str, ...] = ()


async def create(session: AsyncSession, new: NewPayment, *, source: str) -> Any:
    """Insert a `pending` payment (and its first history row); returns the row."""
    payment_id = new_id("pay")
    row = (
        await session.execute(
            insert(PAYMENTS)
            .values(
                payment_id=payment_id,
                order_id=new.order_id,
                customer_id=new.customer_id,
                provider=new.provider,
                capture_method=new.capture_method,
                payment_method=new.payment_method,
                amount_minor=new.amount_minor,
                currency=new.currency,
                settlement_currency=new.settlement_currency,
                settlement_amount_minor=new.settlement_amount_minor,
                fx_rate=new.fx_rate,
                status=Status.PENDING,
                fraud_decision=new.fraud_decision,
                fraud_score=new.fraud_score,
                fraud_reasons=list(new.fraud_reasons),
            )
            .returning(*PAYMENTS.c)
        )
    ).one()
    await _history(session, payment_id, None, Status.PENDING, "create", new.amount_minor, source)
    await _emit(session, row, previous=None, reason="created")
    metrics.observe_transition(session, None, row)
    return row


async def get(session: AsyncSession, payment_id: str, *, lock: bool = False) -> Any:
    query = select(PAYMENTS).where(PAYMENTS.c.payment_id == payment_id)
    row = (await session.execute(query.with_for_update() if lock else query)).first()
    if row is None:
        raise PaymentNotFound(f"no payment {payment_id}")
    return row


async def find_by_id(session: AsyncSession, payment_id: str, *, lock: bool = False) -> Any | None:
    query = select(PAYMENTS).where(PAYMENTS.c.payment_id == payment_id)
    return (await session.execute(query.with_for_update() if lock else query)).first()


async def find(
    session: AsyncSession,
    *,
    order_id: str | None = None,
    provider: str | None = None,
    reference: str | None = None,
    lock: bool = False,
) -> Any | None:
    """The payment of an order, or the one a provider reference names (None if none)."""
    if order_id is not None:
        query = select(PAYMENTS).where(PAYMENTS.c.order_id == order_id)
    else:
        query = select(PAYMENTS).where(
            PAYMENTS.c.provider == provider, PAYMENTS.c.provider_reference == reference
        )
    return (await session.execute(query.with_for_update() if lock else query)).first()


async def update_fields(session: AsyncSession, payment_id: str, **values: Any) -> Any:
    """Change columns other than the status (provider ids, next action); returns the row."""
    return (
        await session.execute(
            update(PAYMENTS)
            .where(PAYMENTS.c.payment_id == payment_id)
            .values(updated_at=func.now(), **values)
            .returning(*PAYMENTS.c)
        )
    ).one()


async def transition(
    session: AsyncSession,
    payment: Any,
    to: Status,
    *,
    action: str,
    source: str,
    amount_minor: int | None = None,
    detail: str = "",
    **values: Any,
) -> Any:
    """Move the (locked) payment to `to`, or IllegalTransition; returns the updated row.

    A move to the status it already has is allowed only where the table says so (a second
    partial refund); `values` are other columns to set in the same update."""
    if not can_move(payment.status, to):
        raise IllegalTransition(payment.payment_id, payment.status, to)
    row = (
        await session.execute(
            update(PAYMENTS)
            .where(PAYMENTS.c.payment_id == payment.payment_id)
            .values(status=to, version=PAYMENTS.c.version + 1, updated_at=func.now(), **values)
            .returning(*PAYMENTS.c)
        )
    ).one()
    await _history(
        session, payment.payment_id, payment.status, to, action, amount_minor, source, detail
    )
    await _emit(session, row, previous=payment.status, reason=detail or action)
    metrics.observe_transition(session, payment.status, row, before=payment)
    if to == Status.AUTHORIZED and row.order_id:
        await events.emit(
            session,
            events.AUTHORIZED,
            {
                "order_id": row.order_id,
                "payment_id": row.payment_id,
                "amount_minor": row.amount_minor,
                "currency": row.currency,
                "provider": row.provider,
            },
        )
    return row


async def record(
    session: AsyncSession,
    payment: Any,
    *,
    action: str,
    source: str,
    amount_minor: int | None = None,
    detail: str = "",
) -> None:
    """A history row without a status change."""
    await _history(
        session,
        payment.payment_id,
        payment.status,
        payment.status,
        action,
        amount_minor,
        source,
        detail,
    )


async def history(session: AsyncSession, payment_id: str) -> list[Any]:
    return list(
        (
            await session.execute(
                select(PAYMENT_HISTORY)
                .where(PAYMENT_HISTORY.c.payment_id == payment_id)
                .order_by(PAYMENT_HISTORY.c.id)
            )
        ).all()
    )


async def _history(
    session: AsyncSession,
    payment_id: str,
    from_status: str | None,
    to_status: str,
    action: str,
    amount_minor: int | None,
    source: str,
    detail: str = "",
) -> None:
    await session.execute(
        insert(PAYMENT_HISTORY).values(
            payment_id=payment_id,
            from_status=from_status,
            to_status=to_status,
            action=action,
            amount_minor=amount_minor,
            source=source[:200],
            detail=detail[:1000],
        )
    )


async def _emit(session: AsyncSession, row: Any, *, previous: str | None, reason: str) -> None:
    await events.emit(
        session,
        events.STATUS_CHANGED,
        {
            "payment_id": row.payment_id,
            "order_id": row.order_id,
            "customer_id": row.customer_id,
            "provider": row.provider,
            "status": row.status,
            "previous": previous,
            "version": row.version,
            "amount_minor": row.amount_minor,
            "currency": row.currency,
            "captured_minor": row.captured_minor,
            "refunded_minor": row.refunded_minor,
            "failure_code": row.failure_code,
            "reason": reason[:500],
            "changed_at": datetime.now(UTC),
        },
    )
