"""Reservations for checkouts: reserve (idempotent by key), confirm, release."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from kommerce.http.responses import problems
from services.inventory import reservations as r
from services.inventory.allocation import Location
from services.inventory.api.models import AllocationOut, ReservationIn, ReservationOut
from services.inventory.context import Ctx, Reader, Writer
from services.inventory.stock import cache_entries

router = APIRouter(
    prefix="/v1/reservations",
    tags=["reservations"],
    responses=problems(400, 401, 403, 404, 409, 422),
)


def _out(reservation: r.Reservation) -> ReservationOut:
    return ReservationOut(
        id=reservation.id,
        key=reservation.key,
        status=reservation.status,
        strategy=reservation.strategy,
        expires_at=reservation.expires_at,
        created_at=reservation.created_at,
        allocations=[
            AllocationOut(
                variant_id=a.variant_id, warehouse_code=a.warehouse_code, quantity=a.quantity
            )
            for a in reservation.allocations
        ],
    )


async def _finish(c: Ctx, outcome: r.Outcome) -> ReservationOut:
    await c.ats.write_through(cache_entries(outcome.snapshots))
    if outcome.problem is not None:
        raise outcome.problem
    return _out(outcome.reservation)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ReservationOut,
    responses={200: {"model": ReservationOut, "description": "the key's existing reservation"}},
)
async def reserve(
    body: ReservationIn, principal: Writer, c: Ctx, response: Response
) -> ReservationOut:
    """Hold stock for every line (all or nothing) until confirmed, released or expired.

    The same `key` returns the same reservation (200); a line that cannot be covered is a 409
    `insufficient-stock` problem naming the variant and what is available."""
    lines: dict[uuid.UUID, int] = {}
    for line in body.lines:
        lines[line.variant_id] = lines.get(line.variant_id, 0) + line.quantity
    outcome = await r.reserve(
        c.db,
        r.ReserveRequest(
            key=body.key,
            lines=lines,
            ttl_seconds=body.ttl_seconds or c.settings.default_reservation_ttl_seconds,
            strategy=body.strategy or c.settings.default_strategy,
            actor=principal.user_id,
            ship_to=Location(body.ship_to.latitude, body.ship_to.longitude)
            if body.ship_to
            else None,
            preferred_warehouse=body.preferred_warehouse,
            allow_split=body.allow_split,
        ),
    )
    if not outcome.created:
        response.status_code = status.HTTP_200_OK
    return await _finish(c, outcome)


@router.get("/{reservation_id}", response_model=ReservationOut)
async def get_reservation(reservation_id: uuid.UUID, principal: Reader, c: Ctx) -> ReservationOut:
    async with c.db.session() as session:
        return _out(await r.load(session, reservation_id, lock=False))


@router.post("/{reservation_id}/confirm", response_model=ReservationOut)
async def confirm(reservation_id: uuid.UUID, principal: Writer, c: Ctx) -> ReservationOut:
    """Ship the reserved units (on_hand and reserved drop); 409 once expired or released."""
    return await _finish(c, await r.confirm(c.db, reservation_id, actor=principal.user_id))


@router.post("/{reservation_id}/release", response_model=ReservationOut)
async def release(reservation_id: uuid.UUID, principal: Writer, c: Ctx) -> ReservationOut:
    """Return the reserved units; releasing again (or after expiry) changes nothing."""
    return await _finish(c, await r.release(c.db, reservation_id, actor=principal.user_id))
