"""Stock levels, adjustments with reasons, reorder points and low-stock alerts."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.http.errors import NotFound
from kommerce.http.responses import problems
from services.inventory import adjustments
from services.inventory.api.models import (
    AdjustmentIn,
    LowStockOut,
    ReorderPointIn,
    StockOut,
    WarehouseLevel,
)
from services.inventory.api.warehouses import CodePath
from services.inventory.context import Ctx, Reader, Writer
from services.inventory.stock import cache_entries
from services.inventory.tables import STOCK_LEVELS, VARIANTS, WAREHOUSES

router = APIRouter(tags=["stock"], responses=problems(400, 401, 403, 404, 409, 422))


def _level(r: Any) -> WarehouseLevel:
    on_hand, reserved = r.on_hand, r.reserved
    point = r.reorder_point
    return WarehouseLevel(
        warehouse_code=r.code,
        on_hand=on_hand,
        reserved=reserved,
        available=on_hand - reserved,
        reorder_point=point,
        target_level=r.target_level,
        low_stock=point is not None and on_hand - reserved < point,
    )


async def stock_view(session: AsyncSession, variant_id: uuid.UUID) -> StockOut:
    variant = (
        await session.execute(select(VARIANTS).where(VARIANTS.c.variant_id == variant_id))
    ).one_or_none()
    if variant is None:
        raise NotFound(f"inventory knows no variant {variant_id}")
    rows = (
        await session.execute(
            select(STOCK_LEVELS, WAREHOUSES.c.code)
            .join(WAREHOUSES, WAREHOUSES.c.id == STOCK_LEVELS.c.warehouse_id)
            .where(STOCK_LEVELS.c.variant_id == variant_id)
            .order_by(WAREHOUSES.c.code)
        )
    ).all()
    levels = [_level(r) for r in rows]
    on_hand = sum(level.on_hand for level in levels)
    reserved = sum(level.reserved for level in levels)
    return StockOut(
        variant_id=variant_id,
        sku=variant.sku,
        product_id=variant.product_id,
        version=variant.stock_version,
        on_hand=on_hand,
        reserved=reserved,
        available=on_hand - reserved,
        warehouses=levels,
    )


@router.get("/v1/stock/{variant_id}", response_model=StockOut)
async def get_stock(variant_id: uuid.UUID, principal: Reader, c: Ctx) -> StockOut:
    async with c.db.session() as session:
        return await stock_view(session, variant_id)


@router.post("/v1/stock/adjustments", response_model=StockOut)
async def adjust_stock(body: AdjustmentIn, principal: Writer, c: Ctx) -> StockOut:
    """Change on_hand with a reason; refused (409) if it would leave less than is reserved."""
    done = await adjustments.adjust(
        c.db,
        variant_id=body.variant_id,
        warehouse_code=body.warehouse_code,
        delta=body.delta,
        reason=body.reason,
        actor=principal.user_id,
        note=body.note,
    )
    await c.ats.write_through(cache_entries([done.snapshot]))
    async with c.db.session() as session:
        return await stock_view(session, body.variant_id)


@router.put("/v1/stock/{variant_id}/warehouses/{code}/reorder-point", response_model=WarehouseLevel)
async def set_reorder_point(
    variant_id: uuid.UUID,
    body: ReorderPointIn,
    principal: Writer,
    c: Ctx,
    code: str = CodePath,
) -> WarehouseLevel:
    await adjustments.set_reorder_point(
        c.db,
        variant_id=variant_id,
        warehouse_code=code,
        reorder_point=body.reorder_point,
        target_level=body.target_level,
    )
    async with c.db.session() as session:
        row = (
            await session.execute(
                select(STOCK_LEVELS, WAREHOUSES.c.code)
                .join(WAREHOUSES, WAREHOUSES.c.id == STOCK_LEVELS.c.warehouse_id)
                .where(and_(STOCK_LEVELS.c.variant_id == variant_id, WAREHOUSES.c.code == code))
            )
        ).one()
    return _level(row)


@router.get("/v1/alerts/low-stock", response_model=list[LowStockOut])
async def low_stock(principal: Reader, c: Ctx) -> list[LowStockOut]:
    """Stock levels whose available quantity is below their reorder point now."""
    async with c.db.session() as session:
        rows = (
            await session.execute(
                select(
                    STOCK_LEVELS.c.variant_id,
                    VARIANTS.c.sku,
                    WAREHOUSES.c.code,
                    (STOCK_LEVELS.c.on_hand - STOCK_LEVELS.c.reserved).label("available"),
                    STOCK_LEVELS.c.reorder_point,
                )
                .join(WAREHOUSES, WAREHOUSES.c.id == STOCK_LEVELS.c.warehouse_id)
                .join(VARIANTS, VARIANTS.c.variant_id == STOCK_LEVELS.c.variant_id)
                .where(
                    STOCK_LEVELS.c.on_hand - STOCK_LEVELS.c.reserved < STOCK_LEVELS.c.reorder_point
                )
                .order_by(WAREHOUSES.c.code, STOCK_LEVELS.c.variant_id)
                .limit(1000)
            )
        ).all()
    return [
        LowStockOut(
            variant_id=r.variant_id,
            sku=r.sku,
            warehouse_code=r.code,
            available=r.available,
            reorder_point=r.reorder_point,
        )
        for r in rows
    ]
