"""Inventory as a saga participant: applies `saga.command`s from `inventory.commands.v1` and
answers on the saga's replies topic (`<saga>.replies.v1`). The contract (data in and out,
failure slugs, idempotency keys) is docs/saga-participants.md:

- `reserve_stock` (order_id, lines, ship_to, reservation_ttl_seconds) -> {reservation_id};
- `release_stock` / `commit_stock` (reservation_id or order_id) -> {};
- `restock_items` (return_id, lines; optional order_id, warehouse_code) -> {};
- `unrestock_items` (return_id) -> {}.

Failures are replies too (`outcome: failure`, `reason` = `<slug>: <detail>`), never exceptions:
a command the participant cannot apply must not be retried and dead-lettered as poison.

Once, and the same transaction: the consumer inserts the inbox row and calls the handler with
its session; the effect (reserve, release, confirm, adjustment) and the reply in inventory's
outbox are written in that session, so they commit together or not at all. The reservation
functions have `*_in(session, ...)` forms for that (reservations.py). Commands re-sent by the
orchestrator (a timeout retry is a new event) are idempotent on their own: a reservation is
keyed `order:<order_id>`, a release/commit of what is already released/confirmed succeeds, a
restock is recorded once per return (movements noted `return:<return_id>`).

The available-to-sell cache is written through after the commit (a session `after_commit`
hook); the `inventory.stock_changed` events recorded with the change bring the same values.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.events import participant as core
from kommerce.events.participant import Refused, int_field, text_field
from kommerce.events.serde import Event
from services.inventory import reservations
from services.inventory.allocation import Location
from services.inventory.ats import AtsCache
from services.inventory.events import registry
from services.inventory.settings import InventorySettings
from services.inventory.stock import (
    Change,
    InsufficientStock,
    Snapshot,
    cache_entries,
    change_levels,
    ensure_level,
    lock_variants,
    publish_all,
)
from services.inventory.tables import (
    ALLOCATIONS,
    MOVEMENTS,
    RESERVATIONS,
    STOCK_LEVELS,
    VARIANTS,
    WAREHOUSES,
)

TOPIC = "inventory.commands.v1"
PRODUCER = "inventory"
RESTOCK_REASON = "returned"  # adjustments.INCREASING
UNRESTOCK_REASON = "correction"  # adjustments.EITHER


def reservation_key(order_id: str) -> str:
    return f"order:{order_id}"


def _actor(command: Event) -> str:
    return f"saga:{command.payload['saga_type']}:{command.payload['saga_id']}"


def _lines(data: dict[str, Any]) -> dict[uuid.UUID, int]:
    raw = data.get("lines")
    if not isinstance(raw, list) or not raw:
        raise Refused("invalid-command", "lines must be a non-empty list")
    lines: dict[uuid.UUID, int] = {}
    for line in raw:
        try:
            variant = uuid.UUID(str(line["variant_id"]))
            quantity = line["quantity"]
        except (KeyError, TypeError, ValueError) as exc:
            raise Refused("invalid-command", f"bad line {line!r}") from exc
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise Refused("invalid-command", f"variant {variant}: quantity must be >= 1")
        lines[variant] = lines.get(variant, 0) + quantity
    return lines


def _ship_to(data: dict[str, Any]) -> Location | None:
    raw = data.get("ship_to")
    if raw is None:
        return None
    try:
        return Location(float(raw["latitude"]), float(raw["longitude"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise Refused("invalid-command", f"bad ship_to {raw!r}") from exc


class Participant(core.Participant):
    """The inventory service's saga participant (commands above)."""

    def __init__(self, settings: InventorySettings, ats: AtsCache) -> None:
        self.settings = settings
        self.ats = ats
        super().__init__(
            PRODUCER,
            {
                "reserve_stock": self.reserve_stock,
                "release_stock": self.release_stock,
                "commit_stock": self.commit_stock,
                "restock_items": self.restock_items,
                "unrestock_items": self.unrestock_items,
            },
            registry(),
        )

    def _write_through(self, session: AsyncSession, snapshots: list[Snapshot]) -> None:
        """The ATS cache after the commit (the stock_changed events bring the same values)."""
        if snapshots:
            entries = cache_entries(snapshots)
            core.after_commit(session, lambda: self.ats.write_through(entries))

    # --- checkout --------------------------------------------------------------------------

    async def reserve_stock(
        self, session: AsyncSession, command: Event, data: dict[str, Any]
    ) -> dict[str, Any]:
        order_id = text_field(data, "order_id")
        ttl = self.settings.default_reservation_ttl_seconds
        if data.get("reservation_ttl_seconds") is not None:
            ttl = int_field(data, "reservation_ttl_seconds", minimum=1, maximum=86_400)
        request = reservations.ReserveRequest(
            key=reservation_key(order_id),
            lines=_lines(data),
            ttl_seconds=ttl,
            strategy=self.settings.default_strategy,
            actor=_actor(command),
            ship_to=_ship_to(data),
        )
        try:
            outcome = await reservations.reserve_in(session, request)
        except InsufficientStock as short:
            await _unknown_variants(session, request.lines)
            raise Refused("insufficient-stock", short.detail) from short
        r = outcome.reservation
        if r.status == "expired":  # a re-sent reserve after the hold ran out
            raise Refused("reservation-expired", f"reservation {r.id} expired")
        if r.status == "released":
            raise Refused("reservation-not-active", f"reservation {r.id} was released")
        self._write_through(session, outcome.snapshots)
        return {"reservation_id": str(r.id)}

    async def _reservation(self, session: AsyncSession, data: dict[str, Any]) -> uuid.UUID | None:
        if data.get("reservation_id"):
            try:
                return uuid.UUID(str(data["reservation_id"]))
            except ValueError as exc:
                raise Refused("invalid-command", "reservation_id is not a UUID") from exc
        return await reservations.find_by_key(
            session, reservation_key(text_field(data, "order_id"))
        )

    async def release_stock(
        self, session: AsyncSession, command: Event, data: dict[str, Any]
    ) -> dict[str, Any]:
        """Compensation of reserve_stock: nothing to release (unknown, released, expired) is
        a success."""
        reservation_id = await self._reservation(session, data)
        if reservation_id is None or not await _exists(session, reservation_id):
            return {}
        outcome = await reservations.release_in(session, reservation_id, actor=_actor(command))
        self._write_through(session, outcome.snapshots)
        return {}

    async def commit_stock(
        self, session: AsyncSession, command: Event, data: dict[str, Any]
    ) -> dict[str, Any]:
        reservation_id = await self._reservation(session, data)
        if reservation_id is None or not await _exists(session, reservation_id):
            raise Refused(
                "reservation-not-found", f"no reservation for order {data.get('order_id')}"
            )
        outcome = await reservations.confirm_in(session, reservation_id, actor=_actor(command))
        if outcome.problem is not None:
            # the expiry (if it happened now) commits with the failure reply
            self._write_through(session, outcome.snapshots)
            raise Refused(outcome.problem.slug, outcome.problem.detail, keep=True)
        self._write_through(session, outcome.snapshots)
        return {}

    # --- returns ---------------------------------------------------------------------------

    async def restock_items(
        self, session: AsyncSession, command: Event, data: dict[str, Any]
    ) -> dict[str, Any]:
        """Put returned units back on hand (reason `returned`), once per return_id."""
        return_id = text_field(data, "return_id")
        lines = _lines(data)
        await lock_variants(session, lines, create=True)
        if await _noted(session, lines, note=f"return:{return_id}", reason=RESTOCK_REASON):
            return {}  # already restocked (a re-sent command)
        warehouses = await _restock_warehouses(session, lines, data)
        changes = [Change(v, warehouses[v], q, 0) for v, q in sorted(lines.items())]
        for change in changes:
            await ensure_level(session, change.variant_id, change.warehouse_id)
        levels = await change_levels(
            session,
            changes,
            reason=RESTOCK_REASON,
            actor=_actor(command),
            note=f"return:{return_id}",
        )
        if levels is None:  # adding stock cannot go below zero
            raise RuntimeError(f"return {return_id}: restock refused")
        self._write_through(session, await publish_all(session, lines, reason=RESTOCK_REASON))
        return {}

    async def unrestock_items(
        self, session: AsyncSession, command: Event, data: dict[str, Any]
    ) -> dict[str, Any]:
        """Compensation of restock_items: take the restocked units out again, exactly as the
        restock's movements put them in; nothing restocked or already undone is a success."""
        return_id = text_field(data, "return_id")
        added = (
            await session.execute(
                select(MOVEMENTS.c.variant_id, MOVEMENTS.c.warehouse_id, MOVEMENTS.c.delta_on_hand)
                .where(
                    and_(
                        MOVEMENTS.c.note == f"return:{return_id}",
                        MOVEMENTS.c.reason == RESTOCK_REASON,
                    )
                )
                .order_by(MOVEMENTS.c.variant_id)
            )
        ).all()
        if not added:
            return {}
        variants = {row.variant_id for row in added}
        await lock_variants(session, variants, create=False)
        undone = f"return-undone:{return_id}"
        if await _noted(session, variants, note=undone, reason=UNRESTOCK_REASON):
            return {}
        levels = await change_levels(
            session,
            [Change(r.variant_id, r.warehouse_id, -r.delta_on_hand, 0) for r in added],
            reason=UNRESTOCK_REASON,
            actor=_actor(command),
            note=undone,
        )
        if levels is None:
            raise Refused(
                "insufficient-stock",
                f"return {return_id}: the restocked units are no longer available to remove",
            )
        snapshots = await publish_all(session, variants, reason=UNRESTOCK_REASON)
        self._write_through(session, snapshots)
        return {}


async def _exists(session: AsyncSession, reservation_id: uuid.UUID) -> bool:
    found = await session.execute(
        select(RESERVATIONS.c.id).where(RESERVATIONS.c.id == reservation_id)
    )
    return found.first() is not None


async def _unknown_variants(session: AsyncSession, lines: dict[uuid.UUID, int]) -> None:
    """On a short reserve: a variant inventory never heard of is its own failure."""
    known = set(
        (
            await session.execute(
                select(VARIANTS.c.variant_id).where(VARIANTS.c.variant_id.in_(sorted(lines)))
            )
        ).scalars()
    )
    unknown = sorted(str(v) for v in lines if v not in known)
    if unknown:
        raise Refused("unknown-variant", f"inventory has no variant {', '.join(unknown)}")


async def _noted(session: AsyncSession, variants: Any, *, note: str, reason: str) -> bool:
    found = await session.execute(
        select(MOVEMENTS.c.id)
        .where(
            and_(
                MOVEMENTS.c.variant_id.in_(sorted(variants)),
                MOVEMENTS.c.note == note,
                MOVEMENTS.c.reason == reason,
            )
        )
        .limit(1)
    )
    return found.first() is not None


async def _restock_warehouses(
    session: AsyncSession, lines: dict[uuid.UUID, int], data: dict[str, Any]
) -> dict[uuid.UUID, uuid.UUID]:
    """Where each returned variant goes: `warehouse_code` if given; else where the order's
    reservation shipped it from; else where the variant has most on hand; else the first
    warehouse by code."""
    if data.get("warehouse_code"):
        code = str(data["warehouse_code"])
        found = (
            await session.execute(select(WAREHOUSES.c.id).where(WAREHOUSES.c.code == code))
        ).scalar_one_or_none()
        if found is None:
            raise Refused("unknown-warehouse", f"no warehouse {code!r}")
        return {v: found for v in lines}
    chosen: dict[uuid.UUID, uuid.UUID] = {}
    if data.get("order_id"):
        shipped = await reservations.find_by_key(session, reservation_key(str(data["order_id"])))
        if shipped is not None:
            rows = await session.execute(
                select(ALLOCATIONS.c.variant_id, ALLOCATIONS.c.warehouse_id)
                .where(ALLOCATIONS.c.reservation_id == shipped)
                .order_by(ALLOCATIONS.c.variant_id, ALLOCATIONS.c.quantity.desc())
            )
            for variant_id, warehouse in rows:
                chosen.setdefault(variant_id, warehouse)
    missing = [v for v in lines if v not in chosen]
    if missing:
        rows = await session.execute(
            select(STOCK_LEVELS.c.variant_id, STOCK_LEVELS.c.warehouse_id)
            .where(STOCK_LEVELS.c.variant_id.in_(missing))
            .order_by(STOCK_LEVELS.c.variant_id, STOCK_LEVELS.c.on_hand.desc())
        )
        for variant_id, warehouse in rows:
            chosen.setdefault(variant_id, warehouse)
    missing = [v for v in lines if v not in chosen]
    if missing:
        first = (
            await session.execute(select(WAREHOUSES.c.id).order_by(WAREHOUSES.c.code).limit(1))
        ).scalar_one_or_none()
        if first is None:
            raise Refused("unknown-warehouse", "inventory has no warehouse to restock into")
        chosen.update({v: first for v in missing})
    return {v: chosen[v] for v in lines}


__all__ = ["TOPIC", "Participant", "reservation_key"]
