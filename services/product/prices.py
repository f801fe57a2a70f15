"""Price history: every price a variant had, with the period it was in effect."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.money import Money
from services.product.tables import PRICE_HISTORY


class PricePeriod(BaseModel):
    price: Money
    valid_from: datetime
    valid_to: datetime | None
    changed_by: str


async def record(
    session: AsyncSession, variant_id: uuid.UUID, price: Money, *, at: datetime, actor: str
) -> None:
    """End the current price at `at` and start `price` from `at`."""
    await session.execute(
        update(PRICE_HISTORY)
        .where(PRICE_HISTORY.c.variant_id == variant_id, PRICE_HISTORY.c.valid_to.is_(None))
        .values(valid_to=at)
    )
    await session.execute(
        insert(PRICE_HISTORY).values(
            variant_id=variant_id,
            amount=price.amount,
            currency=price.currency,
            valid_from=at,
            changed_by=actor,
        )
    )


async def in_period(
    session: AsyncSession,
    variant_id: uuid.UUID,
    start: datetime | None,
    end: datetime | None,
) -> list[PricePeriod]:
    """The prices in effect at some moment of [start, end) (open ends: unbounded)."""
    query = select(PRICE_HISTORY).where(PRICE_HISTORY.c.variant_id == variant_id)
    if end is not None:
        query = query.where(PRICE_HISTORY.c.valid_from < end)
    if start is not None:
        query = query.where(
            or_(PRICE_HISTORY.c.valid_to.is_(None), and_(PRICE_HISTORY.c.valid_to > start))
        )
    rows = await session.execute(query.order_by(PRICE_HISTORY.c.valid_from, PRICE_HISTORY.c.id))
    return [
        PricePeriod(
            price=Money(amount=r.amount, currency=r.currency),
            valid_from=r.valid_from,
            valid_to=r.valid_to,
            changed_by=r.changed_by,
        )
        for r in rows
    ]
