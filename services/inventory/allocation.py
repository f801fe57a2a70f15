"""Which warehouses a reservation line takes its units from (pure; no I/O).

Strategies:
- `nearest`: warehouses by great-circle (haversine) distance from the shipping location, nearest
  first; ties by most stock. Without a shipping location it behaves as `most_stock`.
- `most_stock`: warehouses by available units, most first; ties by warehouse code.

A preferred warehouse, when given, goes first whatever the strategy. Lines are split: units are
taken greedily from the first warehouse in that order, then the next, until the line is covered
(`allow_split=False` instead takes the first warehouse that can cover the whole line alone).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

EARTH_RADIUS_KM = 6371.0088

Strategy = Literal["nearest", "most_stock"]


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float


@dataclass(frozen=True)
class Candidate:
    """One warehouse's stock of the variant being allocated."""

    warehouse_id: str
    code: str
    location: Location
    available: int


@dataclass(frozen=True)
class Pick:
    warehouse_id: str
    code: str
    quantity: int


def haversine_km(a: Location, b: Location) -> float:
    """Great-circle distance between two points, in kilometres."""
    lat1, lat2 = math.radians(a.latitude), math.radians(b.latitude)
    dlat = lat2 - lat1
    dlon = math.radians(b.longitude - a.longitude)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def order_candidates(
    candidates: Sequence[Candidate],
    *,
    strategy: Strategy,
    ship_to: Location | None = None,
    preferred: str | None = None,
) -> list[Candidate]:
    """The warehouses in the order units are taken from them."""
    if strategy == "nearest" and ship_to is not None:
        origin = ship_to
        ordered = sorted(
            candidates, key=lambda c: (haversine_km(origin, c.location), -c.available, c.code)
        )
    else:
        ordered = sorted(candidates, key=lambda c: (-c.available, c.code))
    if preferred is not None:
        ordered.sort(key=lambda c: c.code != preferred)  # stable: the rest keep their order
    return ordered


def allocate(
    quantity: int,
    candidates: Sequence[Candidate],
    *,
    strategy: Strategy,
    ship_to: Location | None = None,
    preferred: str | None = None,
    allow_split: bool = True,
) -> list[Pick] | None:
    """Picks covering `quantity`, or None when the warehouses cannot cover it."""
    if quantity <= 0:
        raise ValueError("quantity must be positive")
    ordered = order_candidates(
        [c for c in candidates if c.available > 0],
        strategy=strategy,
        ship_to=ship_to,
        preferred=preferred,
    )
    if not allow_split:
        for c in ordered:
            if c.available >= quantity:
                return [Pick(c.warehouse_id, c.code, quantity)]
        return None
    picks: list[Pick] = []
    remaining = quantity
    for c in ordered:
        take = min(remaining, c.available)
        picks.append(Pick(c.warehouse_id, c.code, take))
        remaining -= take
        if remaining == 0:
            return picks
    return None
