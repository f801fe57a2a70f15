"""Purchase suggestions: how much to order, per variant and warehouse with a reorder point.

    velocity      = units shipped from the warehouse in the last `velocity_days` / velocity_days
    lead_demand   = ceil(velocity * lead_time_days)        (the chosen supplier's lead time)
    target        = target_level, or 2 * reorder_point when no target is set
    suggest when  available <= reorder_point + lead_demand  (it would cross the reorder point
                                                            before an order placed now arrives)
    quantity      = target + lead_demand - available

The supplier is the cheapest one supplying the variant (ties: shorter lead time, then name);
without a supplier the lead time is 0 and the suggestion names no supplier.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


def suggested_quantity(
    *,
    available: int,
    reorder_point: int,
    target_level: int | None,
    velocity_per_day: float,
    lead_time_days: int,
) -> int:
    """Units to order now (0: no need yet)."""
    lead_demand = math.ceil(velocity_per_day * lead_time_days)
    if available > reorder_point + lead_demand:
        return 0
    target = target_level if target_level is not None else 2 * reorder_point
    return max(0, target + lead_demand - available)


@dataclass(frozen=True)
class Suggestion:
    variant_id: str
    sku: str | None
    warehouse_code: str
    available: int
    reorder_point: int
    target_level: int
    velocity_per_day: float
    lead_time_days: int
    quantity: int
    supplier_id: str | None
    supplier_name: str | None
    unit_cost_amount: int | None
    currency: str | None


SUGGESTION_INPUTS = text(
    """
    WITH shipped AS (
        SELECT variant_id, warehouse_id, -SUM(delta_on_hand) AS units
        FROM movements
        WHERE reason = 'shipped' AND at >= now() - make_interval(days => :days)
        GROUP BY variant_id, warehouse_id
    ), cheapest AS (
        SELECT DISTINCT ON (sv.variant_id) sv.variant_id, s.id, s.name, s.lead_time_days,
               sv.cost_amount, sv.currency
        FROM supplier_variants sv JOIN suppliers s ON s.id = sv.supplier_id
        ORDER BY sv.variant_id, sv.cost_amount, s.lead_time_days, s.name
    )
    SELECT l.variant_id, v.sku, w.code, l.on_hand - l.reserved AS available, l.reorder_point,
           l.target_level, COALESCE(sh.units, 0) AS shipped, c.id AS supplier_id,
           c.name AS supplier_name, COALESCE(c.lead_time_days, 0) AS lead_time_days,
           c.cost_amount, c.currency
    FROM stock_levels l
    JOIN warehouses w ON w.id = l.warehouse_id
    JOIN variants v ON v.variant_id = l.variant_id
    LEFT JOIN shipped sh ON sh.variant_id = l.variant_id AND sh.warehouse_id = l.warehouse_id
    LEFT JOIN cheapest c ON c.variant_id = l.variant_id
    WHERE l.reorder_point IS NOT NULL AND NOT v.deleted
    ORDER BY w.code, l.variant_id
    """
)


async def suggestions(session: AsyncSession, *, velocity_days: int) -> list[Suggestion]:
    found: list[Suggestion] = []
    for r in (await session.execute(SUGGESTION_INPUTS, {"days": velocity_days})).all():
        velocity = float(r.shipped) / velocity_days
        quantity = suggested_quantity(
            available=r.available,
            reorder_point=r.reorder_point,
            target_level=r.target_level,
            velocity_per_day=velocity,
            lead_time_days=r.lead_time_days,
        )
        if quantity <= 0:
            continue
        found.append(
            Suggestion(
                variant_id=str(r.variant_id),
                sku=r.sku,
                warehouse_code=r.code,
                available=r.available,
                reorder_point=r.reorder_point,
                target_level=(
                    r.target_level if r.target_level is not None else 2 * r.reorder_point
                ),
                velocity_per_day=round(velocity, 4),
                lead_time_days=r.lead_time_days,
                quantity=quantity,
                supplier_id=str(r.supplier_id) if r.supplier_id else None,
                supplier_name=r.supplier_name,
                unit_cost_amount=r.cost_amount,
                currency=r.currency,
            )
        )
    return found
