"""Price history: every price a variant had, with the period it was in effect."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

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


class PriceChange(NamedTuple):
    variant_id: uuid.UUID
    sku: str
    old_amount: int | None  # None for a new variant or a currency change
    price: Money


async def record_many(
    session: AsyncSession, changes: Sequence[PriceChange], *, at: datetime, actor: str
) -> None:
    """End each variant's current price at `at` and start its new one from `at` (two
    statements for any number of variants)."""
    if not changes:
        return
    variant_ids = [c.variant_id for c in changes]
    await session.execute(
        update(PRICE_HISTORY)
        .where(PRICE_HISTORY.c.variant_id.in_(variant_ids), PRICE_HISTORY.c.valid_to.is_(None))
        .values(valid_to=at)
    )
    await session.execute(
        insert(PRICE_HISTORY),
        [
            {
                "variant_id": c.variant_id,
                "amount": c.price.amount,
                "currency": c.price.currency,
                "valid_from": at,
                "changed_by": actor,
            }
            for c in changes
        ],
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
