"""The one way stock changes: under the variant's lock, by a conditional UPDATE, with a movement.

Every writer of a variant's stock first locks the variant's row in `variants`
(`lock_variants`, in variant-id order, so two writers of several variants never deadlock), then
changes levels with `change_levels`: one UPDATE whose WHERE clause refuses any result below zero
(`on_hand >= 0`, `0 <= reserved <= on_hand`; the table's CHECK constraints say the same, as a
last line of defence), appending a movement per level (who, when, why, deltas, resulting level)
in the same statement, then re-checks the reorder points. `publish_all` bumps the variants'
stock versions and records `inventory.stock_changed` in the same transaction. The statements
are few on purpose: row locks are held until commit, so every round trip inside the
transaction is time other checkouts of the same variant wait.

The reserve hot path (reservations.RESERVE_LOCK / RESERVE_WRITE) follows the same rules with
fewer statements: it takes the same locks in the same order and its UPDATE has the same
never-below-zero condition.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.events.message import EncodedMessage
from kommerce.events.outbox import record_many
from kommerce.http.errors import Conflict
from services.inventory.events import LOW_STOCK, STOCK_CHANGED, message
from services.inventory.tables import STOCK_LEVELS, VARIANTS, WAREHOUSES


class InsufficientStock(Conflict):
    slug, title = "insufficient-stock", "Not enough stock"


@dataclass(frozen=True)
class Change:
    variant_id: uuid.UUID
    warehouse_id: uuid.UUID
    delta_on_hand: int
    delta_reserved: int


@dataclass(frozen=True)
class Level:
    variant_id: uuid.UUID
    warehouse_id: uuid.UUID
    on_hand: int
    reserved: int

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


@dataclass(frozen=True)
class Snapshot:
    """A variant's stock after a change: what the event says and the cache stores."""

    variant_id: uuid.UUID
    version: int
    available: int
    on_hand: int
    reserved: int


async def lock_variants(
    session: AsyncSession, variant_ids: Iterable[uuid.UUID], *, create: bool
) -> dict[uuid.UUID, Any]:
    """Lock the variants' rows (in id order) for the rest of the transaction; `create` adds
    rows for variants inventory has not heard of yet. Returns the rows found, by id."""
    ids = sorted(set(variant_ids))
    if not ids:
        return {}
    if create:
        await session.execute(
            pg_insert(VARIANTS)
            .values([{"variant_id": v} for v in ids])
            .on_conflict_do_nothing(index_elements=["variant_id"])
        )
    rows = (
        await session.execute(
            select(VARIANTS)
            .where(VARIANTS.c.variant_id.in_(ids))
            .order_by(VARIANTS.c.variant_id)
            .with_for_update()
        )
    ).all()
    return {r.variant_id: r for r in rows}


async def ensure_level(
    session: AsyncSession, variant_id: uuid.UUID, warehouse_id: uuid.UUID
) -> None:
    await session.execute(
        pg_insert(STOCK_LEVELS)
        .values(variant_id=variant_id, warehouse_id=warehouse_id)
        .on_conflict_do_nothing(index_elements=["variant_id", "warehouse_id"])
    )


CHANGE_LEVELS = """
WITH p AS (
    SELECT * FROM unnest(CAST(:variants AS uuid[]), CAST(:warehouses AS uuid[]),
                         CAST(:on_hand AS bigint[]), CAST(:reserved AS bigint[]))
        AS p(variant_id, warehouse_id, d_on_hand, d_reserved)
), changed AS (
    UPDATE stock_levels s
    SET on_hand = s.on_hand + p.d_on_hand, reserved = s.reserved + p.d_reserved,
        updated_at = now()
    FROM p
    WHERE s.variant_id = p.variant_id AND s.warehouse_id = p.warehouse_id
      AND s.on_hand + p.d_on_hand >= 0 AND s.reserved + p.d_reserved >= 0
      AND (s.on_hand + p.d_on_hand) - (s.reserved + p.d_reserved) >= 0
    RETURNING s.variant_id, s.warehouse_id, s.on_hand, s.reserved, s.reorder_point,
              s.low_stock_alerted, p.d_on_hand, p.d_reserved
), moved AS (
    INSERT INTO movements (actor, variant_id, warehouse_id, reason, delta_on_hand,
                           delta_reserved, on_hand_after, reserved_after, reservation_id, note)
    SELECT :actor, variant_id, warehouse_id, :reason, d_on_hand, d_reserved, on_hand, reserved,
           CAST(:reservation AS uuid), :note
    FROM changed
){allocations}
SELECT * FROM changed
"""
RECORD_ALLOCATIONS = """, allocated AS (
    INSERT INTO reservation_allocations (reservation_id, variant_id, warehouse_id, quantity)
    SELECT CAST(:reservation AS uuid), variant_id, warehouse_id, d_reserved FROM changed
)"""


async def change_levels(
    session: AsyncSession,
    changes: Sequence[Change],
    *,
    reason: str,
    actor: str,
    reservation_id: uuid.UUID | None = None,
    note: str = "",
    record_allocations: bool = False,
) -> list[Level] | None:
    """Apply every change if none leaves a figure below zero, else nothing (None; the caller
    raises, which rolls back). One statement: levels, movements (and the reservation's
    allocations) together. The (variant, warehouse) pairs must be distinct."""
    sql = CHANGE_LEVELS.format(allocations=RECORD_ALLOCATIONS if record_allocations else "")
    rows = (
        await session.execute(
            text(sql),
            {
                "variants": [c.variant_id for c in changes],
                "warehouses": [c.warehouse_id for c in changes],
                "on_hand": [c.delta_on_hand for c in changes],
                "reserved": [c.delta_reserved for c in changes],
                "actor": actor,
                "reason": reason,
                "reservation": reservation_id,
                "note": note,
            },
        )
    ).all()
    if len(rows) != len(changes):
        return None
    levels = []
    for row in rows:
        level = Level(row.variant_id, row.warehouse_id, row.on_hand, row.reserved)
        await check_reorder_point(
            session, level, reorder_point=row.reorder_point, alerted=row.low_stock_alerted
        )
        levels.append(level)
    return levels


async def check_reorder_point(
    session: AsyncSession, level: Level, *, reorder_point: int | None, alerted: bool
) -> None:
    """`inventory.low_stock` once per crossing below the reorder point; re-armed at or above."""
    below = is_below_reorder_point(level.available, reorder_point)
    if below == alerted:
        return
    await session.execute(
        update(STOCK_LEVELS)
        .where(
            and_(
                STOCK_LEVELS.c.variant_id == level.variant_id,
                STOCK_LEVELS.c.warehouse_id == level.warehouse_id,
            )
        )
        .values(low_stock_alerted=below)
    )
    if below and reorder_point is not None:
        sku = select(VARIANTS.c.sku).where(VARIANTS.c.variant_id == level.variant_id)
        code = select(WAREHOUSES.c.code).where(WAREHOUSES.c.id == level.warehouse_id)
        facts = (
            await session.execute(
                select(sku.scalar_subquery().label("sku"), code.scalar_subquery().label("code"))
            )
        ).one()
        await record_many(session, [low_stock_message(level, facts.sku, facts.code, reorder_point)])


def is_below_reorder_point(available: int, reorder_point: int | None) -> bool:
    return reorder_point is not None and available < reorder_point


def low_stock_message(
    level: Level, sku: str | None, warehouse_code: str, reorder_point: int
) -> EncodedMessage:
    return message(
        LOW_STOCK,
        {
            "variant_id": str(level.variant_id),
            "sku": sku,
            "warehouse_code": warehouse_code,
            "available": level.available,
            "reorder_point": reorder_point,
            "detected_at": datetime.now(UTC),
        },
    )


BUMP_AND_READ = text(
    """
    WITH bumped AS (
        UPDATE variants SET stock_version = stock_version + 1, updated_at = now()
        WHERE variant_id = ANY(CAST(:ids AS uuid[]))
        RETURNING variant_id, stock_version, product_id, sku
    )
    SELECT b.variant_id, b.stock_version, b.product_id, b.sku, w.code, s.on_hand, s.reserved
    FROM bumped b
    LEFT JOIN stock_levels s ON s.variant_id = b.variant_id
    LEFT JOIN warehouses w ON w.id = s.warehouse_id
    ORDER BY b.variant_id, w.code
    """
)


async def publish_all(
    session: AsyncSession,
    variant_ids: Iterable[uuid.UUID],
    *,
    reason: str,
    also: Sequence[EncodedMessage] = (),
) -> list[Snapshot]:
    """Bump the variants' stock versions and record one `inventory.stock_changed` each (plus
    `also`), while holding their locks, after their levels changed. Two statements."""
    ids = sorted(set(variant_ids))
    rows = (await session.execute(BUMP_AND_READ, {"ids": ids})).all()
    by_variant: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for row in rows:
        by_variant[row.variant_id].append(row)
    now = datetime.now(UTC)
    snapshots: list[Snapshot] = []
    messages: list[EncodedMessage] = []
    for variant_id in ids:
        found = by_variant[variant_id]
        first = found[0]
        snapshot, event = stock_changed(
            variant_id,
            first.product_id,
            first.sku,
            first.stock_version,
            [(r.code, r.on_hand, r.reserved) for r in found if r.code is not None],
            reason=reason,
            at=now,
        )
        snapshots.append(snapshot)
        messages.append(event)
    await record_many(session, [*messages, *also])
    return snapshots


def stock_changed(
    variant_id: uuid.UUID,
    product_id: uuid.UUID | None,
    sku: str | None,
    version: int,
    levels: Sequence[tuple[str, int, int]],
    *,
    reason: str,
    at: datetime,
) -> tuple[Snapshot, EncodedMessage]:
    """A variant's snapshot and its `inventory.stock_changed` event from its levels after the
    change: (warehouse code, on_hand, reserved), in code order."""
    on_hand = sum(level[1] for level in levels)
    reserved = sum(level[2] for level in levels)
    snapshot = Snapshot(variant_id, version, on_hand - reserved, on_hand, reserved)
    event = message(
        STOCK_CHANGED,
        {
            "variant_id": str(variant_id),
            "product_id": str(product_id) if product_id else None,
            "sku": sku,
            "version": version,
            "available": snapshot.available,
            "on_hand": on_hand,
            "reserved": reserved,
            "warehouses": [
                {
                    "warehouse_code": code,
                    "available": level_on_hand - level_reserved,
                    "on_hand": level_on_hand,
                    "reserved": level_reserved,
                }
                for code, level_on_hand, level_reserved in levels
            ],
            "reason": reason,
            "changed_at": at,
        },
    )
    return snapshot, event


def cache_entries(snapshots: Sequence[Snapshot]) -> list[tuple[uuid.UUID, int, int]]:
    return [(s.variant_id, s.available, s.version) for s in snapshots]
