"""Reservations: stock held for a checkout until it is confirmed, released or expires.

- `reserve` is idempotent by key (the checkout or order id): the same key returns the same
  reservation; the same key with other lines is a conflict. Each line is allocated across
  warehouses (allocation.py) and its units moved from available to reserved, all or nothing.
- `confirm` turns the reserved units into a shipment (on_hand and reserved both drop); a
  reservation past its expiry cannot be confirmed (it is expired on the spot).
- `release` returns the units; `expire_due` (the sweeper, and lazily when a reserve finds
  too little stock) does the same for active reservations past `expires_at`.

Lock order, everywhere: reservation rows, then variant rows in id order (stock.lock_variants).
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.data.db import Database
from kommerce.http.errors import Conflict, NotFound
from services.inventory import allocation as alloc
from services.inventory.events import STOCK_RESERVED, message
from services.inventory.stock import (
    Change,
    InsufficientStock,
    Snapshot,
    change_levels,
    lock_variants,
    publish_all,
)
from services.inventory.tables import ALLOCATIONS, RESERVATIONS, WAREHOUSES


class KeyReused(Conflict):
    slug, title = "reservation-key-reused", "The reservation key was used with other lines"


class ReservationExpired(Conflict):
    slug, title = "reservation-expired", "The reservation has expired"


class ReservationNotActive(Conflict):
    slug, title = "reservation-not-active", "The reservation is no longer active"


@dataclass(frozen=True)
class ReserveRequest:
    key: str
    lines: dict[uuid.UUID, int]  # variant -> quantity (duplicates merged)
    ttl_seconds: int
    strategy: alloc.Strategy
    actor: str
    ship_to: alloc.Location | None = None
    preferred_warehouse: str | None = None
    allow_split: bool = True

    def canonical_lines(self) -> str:
        return json.dumps([[str(v), q] for v, q in sorted(self.lines.items())])


@dataclass(frozen=True)
class Allocated:
    variant_id: uuid.UUID
    warehouse_code: str
    quantity: int


@dataclass
class Reservation:
    id: uuid.UUID
    key: str
    status: str
    strategy: str
    expires_at: datetime
    created_at: datetime
    allocations: list[Allocated] = field(default_factory=list)


@dataclass
class Outcome:
    reservation: Reservation
    created: bool = False
    snapshots: list[Snapshot] = field(default_factory=list)
    # Raised by the caller after the cache write-through (the transaction did commit).
    problem: Conflict | None = None


async def load(session: AsyncSession, reservation_id: uuid.UUID, *, lock: bool) -> Reservation:
    query = select(RESERVATIONS).where(RESERVATIONS.c.id == reservation_id)
    row = (await session.execute(query.with_for_update() if lock else query)).one_or_none()
    if row is None:
        raise NotFound(f"no reservation {reservation_id}")
    picks = (
        await session.execute(
            select(ALLOCATIONS.c.variant_id, WAREHOUSES.c.code, ALLOCATIONS.c.quantity)
            .join(WAREHOUSES, WAREHOUSES.c.id == ALLOCATIONS.c.warehouse_id)
            .where(ALLOCATIONS.c.reservation_id == reservation_id)
            .order_by(ALLOCATIONS.c.variant_id, WAREHOUSES.c.code)
        )
    ).all()
    return Reservation(
        id=row.id,
        key=row.key,
        status=row.status,
        strategy=row.strategy,
        expires_at=row.expires_at,
        created_at=row.created_at,
        allocations=[Allocated(p.variant_id, p.code, p.quantity) for p in picks],
    )


async def reserve(db: Database, request: ReserveRequest) -> Outcome:
    """All lines or nothing. When stock is short, reservations past their expiry are returned
    first (lazily, in their own transaction, see the lock order above) and the attempt is
    repeated once; the sweeper does the same in the background."""
    try:
        return await _reserve_once(db, request)
    except InsufficientStock:
        if not await expire_due(db):
            raise
    return await _reserve_once(db, request)


async def _reserve_once(db: Database, request: ReserveRequest) -> Outcome:
    async with db.session() as session:
        new_id = uuid.uuid4()
        inserted = (
            await session.execute(
                pg_insert(RESERVATIONS)
                .values(
                    id=new_id,
                    key=request.key,
                    status="active",
                    strategy=request.strategy,
                    expires_at=func.now() + timedelta(seconds=request.ttl_seconds),
                    lines=request.canonical_lines(),
                    actor=request.actor,
                )
                .on_conflict_do_nothing(index_elements=["key"])
                .returning(RESERVATIONS.c.expires_at, RESERVATIONS.c.created_at)
            )
        ).one_or_none()
        if inserted is None:
            return Outcome(await _existing(session, request))
        reservation = Reservation(
            id=new_id,
            key=request.key,
            status="active",
            strategy=request.strategy,
            expires_at=inserted.expires_at,
            created_at=inserted.created_at,
        )
        snapshots = await _allocate(session, request, reservation)
    return Outcome(reservation, created=True, snapshots=snapshots)


async def _existing(session: AsyncSession, request: ReserveRequest) -> Reservation:
    row = (
        await session.execute(
            select(RESERVATIONS.c.id, RESERVATIONS.c.lines).where(RESERVATIONS.c.key == request.key)
        )
    ).one()
    if row.lines != request.canonical_lines():
        raise KeyReused(
            f"reservation key {request.key!r} was used for other lines; use a new key",
            reservation_id=str(row.id),
        )
    return await load(session, row.id, lock=False)


# The variants' rows locked (in id order) and their stock read, in one statement. The stock
# rows are locked too: after waiting for a lock, PostgreSQL re-reads only the rows it locks, so
# locking just the variant would hand us stock figures from before the wait. (Variants without
# any stock row are not returned: nothing to reserve there.)
LOCK_WITH_STOCK = text(
    """
    SELECT v.variant_id, v.deleted, w.id AS warehouse_id, w.code, w.latitude, w.longitude,
           s.on_hand - s.reserved AS available
    FROM variants v
    JOIN stock_levels s ON s.variant_id = v.variant_id
    JOIN warehouses w ON w.id = s.warehouse_id
    WHERE v.variant_id = ANY(CAST(:ids AS uuid[]))
    ORDER BY v.variant_id, s.warehouse_id
    FOR UPDATE OF v, s
    """
)


async def _allocate(
    session: AsyncSession, request: ReserveRequest, reservation: Reservation
) -> list[Snapshot]:
    rows = (await session.execute(LOCK_WITH_STOCK, {"ids": sorted(request.lines)})).all()
    candidates: dict[uuid.UUID, list[alloc.Candidate]] = defaultdict(list)
    deleted = {r.variant_id for r in rows if r.deleted}
    for r in rows:
        if r.warehouse_id is not None:
            candidates[r.variant_id].append(
                alloc.Candidate(
                    str(r.warehouse_id),
                    r.code,
                    alloc.Location(r.latitude, r.longitude),
                    r.available,
                )
            )
    changes: list[Change] = []
    for variant_id, quantity in sorted(request.lines.items()):
        available = 0 if variant_id in deleted else sum(c.available for c in candidates[variant_id])
        picks = (
            alloc.allocate(
                quantity,
                candidates[variant_id],
                strategy=request.strategy,
                ship_to=request.ship_to,
                preferred=request.preferred_warehouse,
                allow_split=request.allow_split,
            )
            if available >= quantity
            else None
        )
        if picks is None:
            raise _insufficient(variant_id, quantity, available, split=request.allow_split)
        for pick in picks:
            changes.append(Change(variant_id, uuid.UUID(pick.warehouse_id), 0, pick.quantity))
            reservation.allocations.append(Allocated(variant_id, pick.code, pick.quantity))
    levels = await change_levels(
        session,
        changes,
        reason="reserved",
        actor=request.actor,
        reservation_id=reservation.id,
        record_allocations=True,
    )
    if levels is None:  # cannot happen while we hold the variants' locks
        raise InsufficientStock(f"stock of {sorted(request.lines)} changed under the lock")
    reserved = message(
        STOCK_RESERVED,
        {
            "order_id": request.key,
            "reservation_id": str(reservation.id),
            "expires_at": reservation.expires_at,
        },
    )
    return await publish_all(session, request.lines, reason="reserved", also=[reserved])


def _insufficient(
    variant_id: uuid.UUID, requested: int, available: int, *, split: bool
) -> InsufficientStock:
    where = "" if split or requested > available else " in any single warehouse"
    return InsufficientStock(
        f"variant {variant_id}: {requested} requested, {available} available{where}",
        variant_id=str(variant_id),
        requested=requested,
        available=available,
    )


async def _return_stock(
    session: AsyncSession, reservation: Reservation, *, reason: str, actor: str, ship: bool
) -> list[Snapshot]:
    """Undo (release/expiry) or ship (confirm) a reservation's allocations; marks its status."""
    warehouse_ids = dict(
        (
            await session.execute(
                select(WAREHOUSES.c.code, WAREHOUSES.c.id).where(
                    WAREHOUSES.c.code.in_({a.warehouse_code for a in reservation.allocations})
                )
            )
        ).all()
    )
    variant_ids = {a.variant_id for a in reservation.allocations}
    await lock_variants(session, variant_ids, create=False)
    changes = [
        Change(
            a.variant_id,
            warehouse_ids[a.warehouse_code],
            -a.quantity if ship else 0,
            -a.quantity,
        )
        for a in reservation.allocations
    ]
    levels = await change_levels(
        session, changes, reason=reason, actor=actor, reservation_id=reservation.id
    )
    if levels is None:
        raise RuntimeError(f"reservation {reservation.id}: reserved stock is missing")
    status = {"shipped": "confirmed", "released": "released", "expired": "expired"}[reason]
    await session.execute(
        update(RESERVATIONS)
        .where(RESERVATIONS.c.id == reservation.id)
        .values(status=status, updated_at=func.now())
    )
    reservation.status = status
    return await publish_all(session, variant_ids, reason=reason)


async def _is_past_expiry(session: AsyncSession, reservation: Reservation) -> bool:
    now = (await session.execute(select(func.now()))).scalar_one()
    return bool(reservation.expires_at <= now)


async def confirm(db: Database, reservation_id: uuid.UUID, *, actor: str) -> Outcome:
    async with db.session() as session:
        reservation = await load(session, reservation_id, lock=True)
        if reservation.status == "confirmed":
            return Outcome(reservation)
        expired = reservation.status == "expired"
        snapshots: list[Snapshot] = []
        if reservation.status == "active" and await _is_past_expiry(session, reservation):
            snapshots = await _return_stock(
                session, reservation, reason="expired", actor="sweeper", ship=False
            )
            expired = True
        elif reservation.status == "active":
            snapshots = await _return_stock(
                session, reservation, reason="shipped", actor=actor, ship=True
            )
            return Outcome(reservation, snapshots=snapshots)
    if expired:
        problem: Conflict = ReservationExpired(
            f"reservation {reservation_id} expired at {reservation.expires_at.isoformat()}; "
            "its stock was returned",
            reservation_id=str(reservation_id),
        )
    else:
        problem = ReservationNotActive(
            f"reservation {reservation_id} was {reservation.status}",
            reservation_status=reservation.status,
        )
    return Outcome(reservation, snapshots=snapshots, problem=problem)


async def release(db: Database, reservation_id: uuid.UUID, *, actor: str) -> Outcome:
    async with db.session() as session:
        reservation = await load(session, reservation_id, lock=True)
        if reservation.status in ("released", "expired"):
            return Outcome(reservation)
        if reservation.status == "confirmed":
            raise ReservationNotActive(
                f"reservation {reservation_id} was confirmed (shipped); adjust stock with "
                "reason `returned` instead",
                reservation_status="confirmed",
            )
        snapshots = await _return_stock(
            session, reservation, reason="released", actor=actor, ship=False
        )
    return Outcome(reservation, snapshots=snapshots)


async def expire_due(db: Database, *, limit: int = 100) -> list[Snapshot]:
    """Return the stock of active reservations past their expiry (skips rows others hold)."""
    snapshots: list[Snapshot] = []
    async with db.session() as session:
        due = (
            (
                await session.execute(
                    select(RESERVATIONS.c.id)
                    .where(
                        and_(
                            RESERVATIONS.c.status == "active",
                            RESERVATIONS.c.expires_at <= func.now(),
                        )
                    )
                    .order_by(RESERVATIONS.c.expires_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            )
            .scalars()
            .all()
        )
        reservations = [await load(session, r, lock=False) for r in due]
        # all the batch's variants at once, in id order: never one after another
        await lock_variants(
            session, {a.variant_id for r in reservations for a in r.allocations}, create=False
        )
        for reservation in reservations:
            snapshots += await _return_stock(
                session, reservation, reason="expired", actor="sweeper", ship=False
            )
    return snapshots
