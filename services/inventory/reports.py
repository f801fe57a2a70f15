"""Inventory reports: stock value and movements by period (read-only SQL)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

Basis = Literal["price", "cost"]

# Unit value per variant: its selling price (from product events) or the cheapest supplier cost.
UNIT_VALUE = {
    "price": "SELECT variant_id, price_amount AS amount, currency FROM variants "
    "WHERE price_amount IS NOT NULL",
    "cost": "SELECT DISTINCT ON (variant_id) variant_id, cost_amount AS amount, currency "
    "FROM supplier_variants ORDER BY variant_id, cost_amount",
}


@dataclass(frozen=True)
class ValueLine:
    warehouse_code: str
    currency: str
    amount: int
    units: int


@dataclass(frozen=True)
class StockValue:
    basis: str
    by_warehouse: list[ValueLine]
    totals: list[ValueLine]  # warehouse_code "*"
    unvalued_units: int


async def stock_value(session: AsyncSession, basis: Basis) -> StockValue:
    rows = (
        await session.execute(
            text(
                f"WITH unit AS ({UNIT_VALUE[basis]}) "  # noqa: S608  # nosec B608: fixed SQL
                "SELECT w.code, u.currency, "
                "SUM(l.on_hand::numeric * u.amount) AS amount, SUM(l.on_hand) AS units "
                "FROM stock_levels l JOIN warehouses w ON w.id = l.warehouse_id "
                "LEFT JOIN unit u ON u.variant_id = l.variant_id "
                "WHERE l.on_hand > 0 GROUP BY w.code, u.currency ORDER BY w.code, u.currency"
            )
        )
    ).all()
    lines: list[ValueLine] = []
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    unvalued = 0
    for r in rows:
        if r.currency is None:
            unvalued += int(r.units)
            continue
        line = ValueLine(r.code, r.currency, int(r.amount), int(r.units))
        lines.append(line)
        totals[r.currency][0] += line.amount
        totals[r.currency][1] += line.units
    return StockValue(
        basis=basis,
        by_warehouse=lines,
        totals=[ValueLine("*", c, a, u) for c, (a, u) in sorted(totals.items())],
        unvalued_units=unvalued,
    )


@dataclass(frozen=True)
class MovementGroup:
    day: str
    reason: str
    movements: int
    delta_on_hand: int
    delta_reserved: int


async def movements_by_period(
    session: AsyncSession,
    *,
    since: datetime,
    until: datetime,
    variant_id: uuid.UUID | None,
    warehouse_code: str | None,
) -> list[MovementGroup]:
    rows = (
        await session.execute(
            text(
                "SELECT to_char(date_trunc('day', m.at AT TIME ZONE 'UTC'), 'YYYY-MM-DD') AS day, "
                "m.reason, COUNT(*) AS n, SUM(m.delta_on_hand) AS dh, SUM(m.delta_reserved) AS dr "
                "FROM movements m JOIN warehouses w ON w.id = m.warehouse_id "
                "WHERE m.at >= :since AND m.at < :until "
                "AND (CAST(:variant AS uuid) IS NULL OR m.variant_id = CAST(:variant AS uuid)) "
                "AND (CAST(:code AS text) IS NULL OR w.code = CAST(:code AS text)) "
                "GROUP BY 1, 2 ORDER BY 1, 2"
            ),
            {
                "since": since,
                "until": until,
                "variant": str(variant_id) if variant_id else None,
                "code": warehouse_code,
            },
        )
    ).all()
    return [MovementGroup(r.day, r.reason, r.n, int(r.dh), int(r.dr)) for r in rows]
