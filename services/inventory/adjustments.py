"""Stock adjustments with reasons, and reorder points: warehouse staff's changes to levels."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.data.db import Database
from kommerce.http.errors import NotFound
from services.inventory.stock import (
    Change,
    InsufficientStock,
    Level,
    Snapshot,
    change_levels,
    check_reorder_point,
    ensure_level,
    lock_variants,
    publish_all,
)
from services.inventory.tables import STOCK_LEVELS, WAREHOUSES

# Which way each reason may move on_hand.
INCREASING = frozenset({"received", "returned"})
DECREASING = frozenset({"damaged", "lost", "expired_goods"})
EITHER = frozenset({"correction", "cycle_count"})
REASONS = INCREASING | DECREASING | EITHER


def sign_error(reason: str, delta: int) -> str | None:
    """Why `delta` does not fit `reason`, or None."""
    if delta == 0:
        return "delta must not be 0"
    if reason in INCREASING and delta < 0:
        return f"reason {reason!r} adds stock: delta must be positive"
    if reason in DECREASING and delta > 0:
        return f"reason {reason!r} removes stock: delta must be negative"
    return None


async def warehouse_id(session: AsyncSession, code: str) -> uuid.UUID:
    found = (
        await session.execute(select(WAREHOUSES.c.id).where(WAREHOUSES.c.code == code))
    ).scalar_one_or_none()
    if found is None:
        raise NotFound(f"no warehouse {code!r}")
    return uuid.UUID(str(found))


@dataclass(frozen=True)
class Adjusted:
    level: Level
    snapshot: Snapshot


async def adjust(
    db: Database,
    *,
    variant_id: uuid.UUID,
    warehouse_code: str,
    delta: int,
    reason: str,
    actor: str,
    note: str = "",
) -> Adjusted:
    async with db.session() as session:
        warehouse = await warehouse_id(session, warehouse_code)
        await lock_variants(session, [variant_id], create=True)
        await ensure_level(session, variant_id, warehouse)
        levels = await change_levels(
            session,
            [Change(variant_id, warehouse, delta, 0)],
            reason=reason,
            actor=actor,
            note=note,
        )
        if levels is None:
            current = (
                await session.execute(
                    select(STOCK_LEVELS.c.on_hand, STOCK_LEVELS.c.reserved).where(
                        and_(
                            STOCK_LEVELS.c.variant_id == variant_id,
                            STOCK_LEVELS.c.warehouse_id == warehouse,
                        )
                    )
                )
            ).one()
            available = current.on_hand - current.reserved
            raise InsufficientStock(
                f"variant {variant_id} in {warehouse_code}: removing {-delta} would leave less "
                f"than the {current.reserved} reserved (on hand {current.on_hand}, "
                f"available {available})",
                variant_id=str(variant_id),
                warehouse_code=warehouse_code,
                requested=-delta,
                available=available,
            )
        (snapshot,) = await publish_all(session, [variant_id], reason=reason)
    return Adjusted(levels[0], snapshot)


async def set_reorder_point(
    db: Database,
    *,
    variant_id: uuid.UUID,
    warehouse_code: str,
    reorder_point: int | None,
    target_level: int | None,
) -> Level:
    async with db.session() as session:
        warehouse = await warehouse_id(session, warehouse_code)
        await lock_variants(session, [variant_id], create=True)
        await ensure_level(session, variant_id, warehouse)
        row = (
            await session.execute(
                update(STOCK_LEVELS)
                .where(
                    and_(
                        STOCK_LEVELS.c.variant_id == variant_id,
                        STOCK_LEVELS.c.warehouse_id == warehouse,
                    )
                )
                .values(reorder_point=reorder_point, target_level=target_level)
                .returning(
                    STOCK_LEVELS.c.on_hand,
                    STOCK_LEVELS.c.reserved,
                    STOCK_LEVELS.c.low_stock_alerted,
                )
            )
        ).one()
        level = Level(variant_id, warehouse, row.on_hand, row.reserved)
        await check_reorder_point(
            session, level, reorder_point=reorder_point, alerted=row.low_stock_alerted
        )
    return level
