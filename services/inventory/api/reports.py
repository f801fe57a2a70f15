"""Reports: stock value per warehouse and currency, movements by period, the movement log."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import and_, select

from kommerce.http.errors import Problem
from kommerce.http.responses import problems
from services.inventory import reports
from services.inventory.api.models import (
    Amount,
    MovementGroupOut,
    MovementOut,
    MovementPage,
    MovementsReportOut,
    StockValueOut,
    ValueLineOut,
)
from services.inventory.context import Ctx, Reader
from services.inventory.tables import MOVEMENTS, WAREHOUSES

router = APIRouter(tags=["reports"], responses=problems(400, 401, 403, 422))
CODE = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


class BadQuery(Problem):
    status, slug, title = 400, "bad-query", "The query is not valid"


def _moment(value: datetime | None, default: datetime, name: str) -> datetime:
    if value is None:
        return default
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        value = value.astimezone(UTC)
    except OverflowError as exc:
        raise BadQuery(f"{name} is out of range") from exc
    if not EARLIEST <= value <= LATEST:
        raise BadQuery(f"{name} must be between {EARLIEST.date()} and {LATEST.date()}")
    return value


def _line(line: reports.ValueLine) -> ValueLineOut:
    return ValueLineOut(
        warehouse_code=line.warehouse_code,
        value=Amount(amount=line.amount, currency=line.currency),
        units=line.units,
    )


@router.get("/v1/reports/stock-value", response_model=StockValueOut)
async def stock_value(principal: Reader, c: Ctx, basis: reports.Basis = "price") -> StockValueOut:
    """on_hand * unit value per warehouse and currency, and totals per currency. The unit
    value is the variant's price (`basis=price`) or its cheapest supplier cost (`cost`)."""
    async with c.db.session() as session:
        value = await reports.stock_value(session, basis)
    return StockValueOut(
        basis=basis,
        by_warehouse=[_line(x) for x in value.by_warehouse],
        totals=[_line(x) for x in value.totals],
        unvalued_units=value.unvalued_units,
    )


@router.get("/v1/reports/movements", response_model=MovementsReportOut)
async def movements_report(
    principal: Reader,
    c: Ctx,
    since: datetime | None = None,
    until: datetime | None = None,
    variant_id: uuid.UUID | None = None,
    warehouse_code: Annotated[str | None, Query(max_length=32, pattern=CODE)] = None,
) -> MovementsReportOut:
    """Movements grouped by UTC day and reason (default: the last 30 days)."""
    end = _moment(until, datetime.now(UTC) + timedelta(seconds=1), "until")
    start = _moment(since, end - timedelta(days=30), "since")
    async with c.db.session() as session:
        groups = await reports.movements_by_period(
            session, since=start, until=end, variant_id=variant_id, warehouse_code=warehouse_code
        )
    return MovementsReportOut(
        since=start, until=end, groups=[MovementGroupOut(**vars(g)) for g in groups]
    )


@router.get("/v1/movements", response_model=MovementPage)
async def movements(
    principal: Reader,
    c: Ctx,
    variant_id: uuid.UUID | None = None,
    warehouse_code: Annotated[str | None, Query(max_length=32, pattern=CODE)] = None,
    reservation_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    after: Annotated[int | None, Query(ge=0, le=2**62, description="next_cursor")] = None,
) -> MovementPage:
    """The audit trail: every stock movement, oldest first (who, when, why, deltas, result)."""
    conditions = []
    if variant_id is not None:
        conditions.append(MOVEMENTS.c.variant_id == variant_id)
    if warehouse_code is not None:
        conditions.append(WAREHOUSES.c.code == warehouse_code)
    if reservation_id is not None:
        conditions.append(MOVEMENTS.c.reservation_id == reservation_id)
    if after is not None:
        conditions.append(MOVEMENTS.c.id > after)
    async with c.db.session() as session:
        rows = (
            await session.execute(
                select(MOVEMENTS, WAREHOUSES.c.code)
                .join(WAREHOUSES, WAREHOUSES.c.id == MOVEMENTS.c.warehouse_id)
                .where(and_(True, *conditions))
                .order_by(MOVEMENTS.c.id)
                .limit(limit + 1)
            )
        ).all()
    items = [
        MovementOut(
            id=r.id,
            at=r.at,
            actor=r.actor,
            variant_id=r.variant_id,
            warehouse_code=r.code,
            reason=r.reason,
            delta_on_hand=r.delta_on_hand,
            delta_reserved=r.delta_reserved,
            on_hand_after=r.on_hand_after,
            reserved_after=r.reserved_after,
            reservation_id=r.reservation_id,
            note=r.note,
        )
        for r in rows[:limit]
    ]
    return MovementPage(items=items, next_cursor=items[-1].id if len(rows) > limit else None)
