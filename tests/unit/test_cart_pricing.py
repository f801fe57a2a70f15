"""The pure money arithmetic carts and checkout rely on: proportional allocation with exact
remainders, and basis points rounded half to even, in integers only."""

from __future__ import annotations

import random

import pytest

from kommerce.money import allocate, basis_points

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("total", "weights", "parts"),
    [
        (705, [5997, 1050], [600, 105]),  # 599.94 / 105.05: the larger remainder gets the unit
        (500, [2400, 999], [353, 147]),
        (10, [1, 1, 1], [4, 3, 3]),  # equal remainders: earlier lines first
        (2, [1, 1, 1], [1, 1, 0]),
        (0, [5, 7], [0, 0]),
        (100, [100], [100]),
        (7, [0, 3, 0], [0, 7, 0]),
        (0, [0, 0], [0, 0]),
    ],
)
def test_allocation_is_proportional_and_exact(
    total: int, weights: list[int], parts: list[int]
) -> None:
    assert allocate(total, weights) == parts


def test_allocation_always_adds_up_and_never_exceeds_a_weight() -> None:
    rng = random.Random(8)
    for _ in range(2000):
        weights = [rng.randint(0, 10**6) for _ in range(rng.randint(1, 12))]
        if not any(weights):
            continue
        total = rng.randint(0, sum(weights))
        parts = allocate(total, weights)
        assert sum(parts) == total
        assert all(0 <= p <= w for p, w in zip(parts, weights, strict=True))


def test_allocation_refuses_what_cannot_be_split() -> None:
    with pytest.raises(ValueError, match="zero weights"):
        allocate(1, [0, 0])
    with pytest.raises(ValueError, match=">= 0"):
        allocate(-1, [1])
    with pytest.raises(ValueError, match=">= 0"):
        allocate(1, [-1, 2])


@pytest.mark.parametrize(
    ("amount", "rate", "expected"),
    [
        (1050, 1900, 200),  # 199.5 -> 200 (even)
        (1150, 1900, 218),  # 218.5 -> 218 (even)
        (5397, 1900, 1025),  # 1025.43
        (945, 1900, 180),  # 179.55
        (12345, 500, 617),  # 617.25
        (5, 1000, 0),  # 0.5 -> 0
        (15, 1000, 2),  # 1.5 -> 2
        (25, 1000, 2),  # 2.5 -> 2
        (7047, 1000, 705),  # 704.7
        (0, 1900, 0),
        (999, 0, 0),
        (999, 10_000, 999),
        (9_007_199_254_740_991, 1900, 1_711_367_858_400_788),  # no float anywhere
    ],
)
def test_basis_points_round_half_to_even(amount: int, rate: int, expected: int) -> None:
    assert basis_points(amount, rate) == expected
