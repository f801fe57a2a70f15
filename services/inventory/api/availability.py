"""Available-to-sell, public: from the Redis cache, PostgreSQL on a miss."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from kommerce.http.responses import problems
from services.inventory.api.models import AvailabilityOut
from services.inventory.ats import Availability
from services.inventory.context import Ctx

router = APIRouter(prefix="/v1/availability", tags=["availability"], responses=problems(422))


def _out(found: Availability) -> AvailabilityOut:
    return AvailabilityOut(
        variant_id=found.variant_id,
        available=found.available,
        version=found.version,
        source=found.source,
    )


@router.get("", response_model=list[AvailabilityOut])
async def availability_many(
    c: Ctx, variant_id: Annotated[list[uuid.UUID], Query(min_length=1, max_length=100)]
) -> list[AvailabilityOut]:
    """Units available to sell across all warehouses, per variant (0 for unknown variants)."""
    ids = list(dict.fromkeys(variant_id))
    return [_out(found) for found in await c.ats.get_many(ids)]


@router.get("/{variant_id}", response_model=AvailabilityOut)
async def availability(variant_id: uuid.UUID, c: Ctx) -> AvailabilityOut:
    return _out((await c.ats.get_many([variant_id]))[0])
