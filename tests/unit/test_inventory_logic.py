"""The inventory service's pure parts: allocation, purchase suggestions, adjustment reasons,
the transaction retry."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError

from services.inventory.adjustments import sign_error
from services.inventory.allocation import Candidate, Location, Pick, allocate, haversine_km
from services.inventory.purchasing import suggested_quantity
from services.inventory.retry import ATTEMPTS, is_transient, retrying

pytestmark = pytest.mark.unit

BERLIN = Location(52.52, 13.405)
MADRID = Location(40.4168, -3.7038)
PARIS = Location(48.8566, 2.3522)
WAREHOUSES = [
    Candidate("b", "BER", BERLIN, 4),
    Candidate("m", "MAD", MADRID, 10),
    Candidate("e", "EMPTY", PARIS, 0),
]


def test_haversine() -> None:
    assert haversine_km(PARIS, BERLIN) == pytest.approx(878, abs=5)
    assert haversine_km(PARIS, MADRID) == pytest.approx(1053, abs=5)
    assert haversine_km(BERLIN, BERLIN) == 0


def test_nearest_most_stock_preferred() -> None:
    assert allocate(3, WAREHOUSES, strategy="nearest", ship_to=PARIS) == [Pick("b", "BER", 3)]
    assert allocate(3, WAREHOUSES, strategy="most_stock", ship_to=PARIS) == [Pick("m", "MAD", 3)]
    assert allocate(3, WAREHOUSES, strategy="nearest") == [Pick("m", "MAD", 3)]
    assert allocate(3, WAREHOUSES, strategy="most_stock", preferred="BER") == [Pick("b", "BER", 3)]


def test_split_and_no_split() -> None:
    assert allocate(12, WAREHOUSES, strategy="nearest", ship_to=PARIS) == [
        Pick("b", "BER", 4),
        Pick("m", "MAD", 8),
    ]
    assert allocate(15, WAREHOUSES, strategy="nearest", ship_to=PARIS) is None
    assert allocate(12, WAREHOUSES, strategy="nearest", allow_split=False) is None
    assert allocate(6, WAREHOUSES, strategy="nearest", ship_to=PARIS, allow_split=False) == [
        Pick("m", "MAD", 6)
    ]
    with pytest.raises(ValueError, match="positive"):
        allocate(0, WAREHOUSES, strategy="nearest")


@pytest.mark.parametrize(
    ("available", "point", "target", "velocity", "lead", "expected"),
    [
        (16, 12, 40, 0.5, 10, 29),  # 16 <= 12 + 5: order 40 + 5 - 16
        (16, 12, 40, 0.5, 2, 0),  # 16 > 12 + 1: not yet
        (5, 10, None, 0.0, 0, 15),  # target defaults to 2 x reorder point
        (0, 0, None, 0.0, 7, 0),  # nothing to reach
        (3, 10, 5, 1.0, 3, 5),  # 5 + 3 - 3
    ],
)
def test_suggested_quantity(
    available: int, point: int, target: int | None, velocity: float, lead: int, expected: int
) -> None:
    assert (
        suggested_quantity(
            available=available,
            reorder_point=point,
            target_level=target,
            velocity_per_day=velocity,
            lead_time_days=lead,
        )
        == expected
    )


def test_reason_signs() -> None:
    assert sign_error("received", 3) is None
    assert sign_error("received", -3) is not None
    assert sign_error("damaged", 1) is not None
    assert sign_error("correction", -1) is None
    assert sign_error("correction", 0) is not None


class _Orig(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _db_error(sqlstate: str, *, invalidated: bool = False) -> DBAPIError:
    return DBAPIError("SELECT 1", {}, _Orig(sqlstate), connection_invalidated=invalidated)


async def test_retrying_runs_the_transaction_again_only_when_transient() -> None:
    assert is_transient(_db_error("40P01"))
    assert is_transient(_db_error("40001"))
    assert is_transient(_db_error("08006", invalidated=True))
    assert not is_transient(_db_error("23505"))
    calls: list[int] = []

    async def deadlocks_twice() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _db_error("40P01")
        return "done"

    assert await retrying(deadlocks_twice, what="test") == "done"
    assert len(calls) == 3

    async def unique_violation() -> str:
        calls.append(1)
        raise _db_error("23505")

    calls.clear()
    with pytest.raises(DBAPIError):
        await retrying(unique_violation, what="test")
    assert len(calls) == 1

    async def always_deadlocks() -> str:
        calls.append(1)
        raise _db_error("40P01")

    calls.clear()
    with pytest.raises(DBAPIError):
        await retrying(always_deadlocks, what="test")
    assert len(calls) == ATTEMPTS
