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
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from kommerce.data.db import Database
from kommerce.events.message import EncodedMessage
from kommerce.events.outbox import outbox_values
from kommerce.http.errors import Conflict, NotFound
from services.inventory import allocation as alloc
from services.inventory.events import STOCK_RESERVED, message
from services.inventory.retry import retrying
from services.inventory.stock import (
    Change,
    InsufficientStock,
    Level,
    Snapshot,
    change_levels,
    is_below_reorder_point,
    lock_variants,
    low_stock_message,
    publish_all,
    stock_changed,
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
        return await retrying(lambda: _reserve_once(db, request), what="reserve")
    except InsufficientStock:
        if not await retrying(lambda: expire_due(db), what="expire"):
            raise
    return await retrying(lambda: _reserve_once(db, request), what="reserve")


async def _reserve_once(db: Database, request: ReserveRequest) -> Outcome:
    """Four round trips: BEGIN; lock and read (RESERVE_LOCK); write everything (RESERVE_WRITE);
    COMMIT. The locks are taken by the second and held for the last three."""
    async with db.engine.begin() as conn:
        created = await _reserve_in(conn, request)
    if created is not None:
        return created
    async with db.session() as session:
        return Outcome(await _existing(session, request))


async def reserve_in(session: AsyncSession, request: ReserveRequest) -> Outcome:
    """`reserve` inside the caller's transaction (a saga participant writes its reply in the
    same one). When stock is short the attempt is rolled back to a savepoint, which releases
    its row locks, so expired reservations can be returned in the usual lock order (reservation
    rows, then variants) before the one repeat; their snapshots join the outcome's."""
    expired: list[Snapshot] = []
    try:
        async with session.begin_nested():
            created = await _reserve_in(session, request)
    except InsufficientStock:
        expired = await expire_due_in(session)
        if not expired:
            raise
        created = await _reserve_in(session, request)
    if created is None:
        return Outcome(await _existing(session, request), snapshots=expired)
    created.snapshots = expired + created.snapshots
    return created


async def _reserve_in(
    executor: AsyncConnection | AsyncSession, request: ReserveRequest
) -> Outcome | None:
    """Lock, plan and write in the caller's transaction; None if the key was taken already."""
    rows = (
        await executor.execute(RESERVE_LOCK, {"ids": sorted(request.lines), "key": request.key})
    ).all()
    if rows:
        taken = rows[0].key_taken
    else:  # none of the variants has stock: is the key taken anyway?
        taken = (await executor.execute(KEY_TAKEN, {"key": request.key})).scalar_one()
    if taken:
        return None
    plan = _plan(request, rows)
    written = (await executor.execute(RESERVE_WRITE, plan.params)).one()
    if not written.inserted:
        return None  # a concurrent reserve with this key committed first: nothing was written
    if (written.changed, written.bumped) != plan.expected:
        raise RuntimeError(f"reservation {plan.reservation.id}: stock moved under lock")
    return Outcome(plan.reservation, created=True, snapshots=plan.snapshots)


async def find_by_key(session: AsyncSession, key: str) -> uuid.UUID | None:
    found = (
        await session.execute(select(RESERVATIONS.c.id).where(RESERVATIONS.c.key == key))
    ).scalar_one_or_none()
    return None if found is None else uuid.UUID(str(found))


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


# The variants' rows and all their stock rows locked (in id order) and read, in one statement,
# with the transaction's time and whether the key is taken. The stock rows are locked too:
# after waiting for a lock, PostgreSQL re-reads only the rows it locks, so locking just the
# variant would hand us stock figures from before the wait. (Variants without any stock row
# are not returned: nothing to reserve there.) Holding the locks, the figures after the change
# are known exactly, so the events can be encoded before the write.
RESERVE_LOCK = text(
    """
    SELECT v.variant_id, v.deleted, v.stock_version, v.product_id, v.sku,
           w.id AS warehouse_id, w.code, w.latitude, w.longitude,
           s.on_hand, s.reserved, s.reorder_point, s.low_stock_alerted, now() AS now,
           EXISTS (SELECT 1 FROM reservations r WHERE r.key = :key) AS key_taken
    FROM variants v
    JOIN stock_levels s ON s.variant_id = v.variant_id
    JOIN warehouses w ON w.id = s.warehouse_id
    WHERE v.variant_id = ANY(CAST(:ids AS uuid[]))
    ORDER BY v.variant_id, s.warehouse_id
    FOR UPDATE OF v, s
    """
)
KEY_TAKEN = text("SELECT EXISTS (SELECT 1 FROM reservations WHERE key = :key)")

# Everything else in one statement: the reservation (its key insert decides: if a concurrent
# reserve took the key, nothing else happens), the conditional UPDATE of the levels (the same
# never-below-zero condition as stock.change_levels; with the locks held it cannot fail), the
# movements, the allocations, the version bumps and the outbox rows (in order).
RESERVE_WRITE = text(
    """
    WITH res AS (
        INSERT INTO reservations (id, key, status, strategy, expires_at, lines, actor)
        VALUES (CAST(:id AS uuid), :key, 'active', :strategy, :expires_at, :lines, :actor)
        ON CONFLICT (key) DO NOTHING
        RETURNING id
    ), p AS (
        SELECT * FROM unnest(CAST(:variants AS uuid[]), CAST(:warehouses AS uuid[]),
                             CAST(:quantities AS bigint[]), CAST(:alerted AS boolean[]))
            AS p(variant_id, warehouse_id, quantity, alerted)
        WHERE EXISTS (SELECT 1 FROM res)
    ), changed AS (
        UPDATE stock_levels s
        SET reserved = s.reserved + p.quantity, low_stock_alerted = p.alerted,
            updated_at = now()
        FROM p
        WHERE s.variant_id = p.variant_id AND s.warehouse_id = p.warehouse_id
          AND p.quantity > 0 AND s.on_hand - s.reserved - p.quantity >= 0
        RETURNING s.variant_id, s.warehouse_id, s.on_hand, s.reserved, p.quantity
    ), moved AS (
        INSERT INTO movements (actor, variant_id, warehouse_id, reason, delta_on_hand,
                               delta_reserved, on_hand_after, reserved_after, reservation_id,
                               note)
        SELECT :actor, variant_id, warehouse_id, 'reserved', 0, quantity, on_hand, reserved,
               CAST(:id AS uuid), ''
        FROM changed
    ), allocated AS (
        INSERT INTO reservation_allocations (reservation_id, variant_id, warehouse_id, quantity)
        SELECT CAST(:id AS uuid), variant_id, warehouse_id, quantity FROM changed
    ), bumped AS (
        UPDATE variants SET stock_version = stock_version + 1, updated_at = now()
        WHERE variant_id = ANY(CAST(:variant_ids AS uuid[])) AND EXISTS (SELECT 1 FROM res)
        RETURNING variant_id
    ), recorded AS (
        INSERT INTO outbox (event_id, topic, key, value, headers)
        SELECT e.event_id, e.topic, e.key, e.value, CAST(e.headers AS jsonb)
        FROM unnest(CAST(:event_ids AS uuid[]), CAST(:topics AS text[]),
                    CAST(:keys AS bytea[]), CAST(:values AS bytea[]),
                    CAST(:headers AS text[]))
            WITH ORDINALITY AS e(event_id, topic, key, value, headers, n)
        WHERE EXISTS (SELECT 1 FROM res)
        ORDER BY e.n
    )
    SELECT (SELECT count(*) FROM res) AS inserted, (SELECT count(*) FROM changed) AS changed,
           (SELECT count(*) FROM bumped) AS bumped
    """
)


@dataclass
class _Plan:
    reservation: Reservation
    snapshots: list[Snapshot]
    params: dict[str, Any]
    expected: tuple[int, int]  # levels changed, variants bumped


def _plan(request: ReserveRequest, rows: Sequence[Any]) -> _Plan:
    """Allocate every line from the locked rows (or raise InsufficientStock) and prepare the
    write: the new levels, versions and events follow from the locked figures."""
    by_variant: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for row in rows:
        by_variant[row.variant_id].append(row)
    now: datetime = rows[0].now if rows else datetime.now(UTC)
    reservation = Reservation(
        id=uuid.uuid4(),
        key=request.key,
        status="active",
        strategy=request.strategy,
        expires_at=now + timedelta(seconds=request.ttl_seconds),
        created_at=now,
    )
    picked: dict[tuple[uuid.UUID, uuid.UUID], int] = {}
    for variant_id, quantity in sorted(request.lines.items()):
        found = by_variant[variant_id]
        candidates = [
            alloc.Candidate(
                str(r.warehouse_id),
                r.code,
                alloc.Location(r.latitude, r.longitude),
                r.on_hand - r.reserved,
            )
            for r in found
        ]
        deleted = any(r.deleted for r in found)
        available = 0 if deleted else sum(c.available for c in candidates)
        picks = (
            alloc.allocate(
                quantity,
                candidates,
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
            picked[(variant_id, uuid.UUID(pick.warehouse_id))] = pick.quantity
            reservation.allocations.append(Allocated(variant_id, pick.code, pick.quantity))
    changed_at = datetime.now(UTC)
    low_stock: list[EncodedMessage] = []
    changed: list[EncodedMessage] = []
    snapshots: list[Snapshot] = []
    alerted: dict[tuple[uuid.UUID, uuid.UUID], bool] = {}
    for variant_id in sorted(request.lines):
        levels: list[tuple[str, int, int]] = []
        for r in by_variant[variant_id]:
            quantity = picked.get((variant_id, r.warehouse_id), 0)
            level = Level(variant_id, r.warehouse_id, r.on_hand, r.reserved + quantity)
            levels.append((r.code, level.on_hand, level.reserved))
            if not quantity:
                continue
            below = is_below_reorder_point(level.available, r.reorder_point)
            alerted[(variant_id, r.warehouse_id)] = below
            if below and not r.low_stock_alerted:
                low_stock.append(low_stock_message(level, r.sku, r.code, r.reorder_point))
        first = by_variant[variant_id][0]
        snapshot, event = stock_changed(
            variant_id,
            first.product_id,
            first.sku,
            first.stock_version + 1,
            sorted(levels),
            reason="reserved",
            at=changed_at,
        )
        snapshots.append(snapshot)
        changed.append(event)
    reserved = message(
        STOCK_RESERVED,
        {
            "order_id": request.key,
            "reservation_id": str(reservation.id),
            "expires_at": reservation.expires_at,
        },
    )
    outbox = [outbox_values(m) for m in [*low_stock, *changed, reserved]]
    params: dict[str, Any] = {
        "id": reservation.id,
        "key": request.key,
        "strategy": request.strategy,
        "expires_at": reservation.expires_at,
        "lines": request.canonical_lines(),
        "actor": request.actor,
        "variants": [v for v, _ in picked],
        "warehouses": [w for _, w in picked],
        "quantities": list(picked.values()),
        "alerted": [alerted[pair] for pair in picked],
        "variant_ids": sorted(request.lines),
        "event_ids": [o["event_id"] for o in outbox],
        "topics": [o["topic"] for o in outbox],
        "keys": [o["key"] for o in outbox],
        "values": [o["value"] for o in outbox],
        "headers": [json.dumps(o["headers"]) for o in outbox],
    }
    return _Plan(reservation, snapshots, params, (len(picked), len(request.lines)))


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
    return await retrying(lambda: _confirm_once(db, reservation_id, actor), what="confirm")


async def _confirm_once(db: Database, reservation_id: uuid.UUID, actor: str) -> Outcome:
    async with db.session() as session:
        return await confirm_in(session, reservation_id, actor=actor)


async def confirm_in(session: AsyncSession, reservation_id: uuid.UUID, *, actor: str) -> Outcome:
    """`confirm` inside the caller's transaction; an expired reservation's stock is returned
    in it too and the outcome carries the problem (the caller commits, then raises it)."""
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
    return await retrying(lambda: _release_once(db, reservation_id, actor), what="release")


async def _release_once(db: Database, reservation_id: uuid.UUID, actor: str) -> Outcome:
    async with db.session() as session:
        return await release_in(session, reservation_id, actor=actor)


async def release_in(session: AsyncSession, reservation_id: uuid.UUID, *, actor: str) -> Outcome:
    """`release` inside the caller's transaction (released or expired already: a no-op)."""
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
    async with db.session() as session:
        return await expire_due_in(session, limit=limit)


async def expire_due_in(session: AsyncSession, *, limit: int = 100) -> list[Snapshot]:
    """`expire_due` inside the caller's transaction."""
    snapshots: list[Snapshot] = []
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
