"""The after-sale rules that need no I/O: carrier webhook signatures and returned-unit values."""

from __future__ import annotations

import itertools

import pytest

from services.order.returns import line_value, refund_for
from services.order.tracking import InvalidSignature, sign, verify

pytestmark = pytest.mark.unit
SECRET = "s3cret"
BODY = b'{"event_id":"e1","tracking_number":"T1","status":"delivered"}'


def test_a_fresh_signature_verifies() -> None:
    verify(SECRET, BODY, sign(SECRET, BODY, 1_000_000), tolerance=300, now=1_000_100)


def test_a_second_v1_entry_is_accepted_while_a_secret_rotates() -> None:
    old = sign("old-secret", BODY, 1_000_000)
    new = sign(SECRET, BODY, 1_000_000).split(",")[1]
    verify(SECRET, BODY, f"{old},{new}", tolerance=300, now=1_000_000)


@pytest.mark.parametrize(
    ("header", "body", "now"),
    [
        (sign("wrong", BODY, 1_000_000), BODY, 1_000_000),  # another secret
        (sign(SECRET, BODY, 1_000_000), BODY + b" ", 1_000_000),  # body changed
        (sign(SECRET, BODY, 1_000_000), BODY, 1_000_301),  # too old
        (sign(SECRET, BODY, 1_000_000), BODY, 999_699),  # from the future
        (None, BODY, 1_000_000),
        ("", BODY, 1_000_000),
        ("v1=abc", BODY, 1_000_000),
        ("t=1000000", BODY, 1_000_000),
        ("t=x,v1=abc", BODY, 1_000_000),
        ("t=1000000,v1=", BODY, 1_000_000),
        ("t=1000000,v1=" + "é" * 64, BODY, 1_000_000),
    ],
)
def test_bad_signatures_are_refused(header: str | None, body: bytes, now: float) -> None:
    with pytest.raises(InvalidSignature):
        verify(SECRET, body, header, tolerance=300, now=now)


def test_returned_units_add_up_to_the_line_total_however_they_come_back() -> None:
    for q, u, d, t in itertools.product(
        (1, 2, 3, 7), (1, 999, 1000), (0, 1, 100, 333), (0, 5, 569)
    ):
        if d > q * u:
            continue
        line = {"quantity": q, "unit_price_minor": u, "discount_minor": d, "tax_minor": t}
        values = [line_value(**line, units=n) for n in range(q + 1)]
        assert values[0] == 0
        assert values[-1] == q * u - d + t
        assert all(b >= a for a, b in itertools.pairwise(values))
        # one unit at a time refunds the same in total as all at once
        assert sum(refund_for(line, r, 1) for r in range(q)) == refund_for(line, 0, q)
