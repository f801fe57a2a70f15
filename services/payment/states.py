"""The payment state machine: every legal move in one table.

    pending ──► requires_action ──► authorized ──► captured ──► partially_refunded ──► refunded
       │              │                 │             │                │
       └──────────────┴──► failed       └► cancelled  └──► disputed ◄──┘

- `pending`: asked of the provider, outcome not known yet (the webhook decides).
- `requires_action`: the shopper must act (3-D Secure, a PayPal approval); `next_action` says how.
- `authorized` → `captured` (all or part), or `cancelled` (voided, or the hold expired).
- `disputed`: a chargeback is open; refunds are frozen. Won: back to what it was; lost: it
  stays disputed with the dispute `lost`.

A move not in the table is refused (`IllegalTransition`, 409); a webhook that would make one
(an `authorized` event arriving after the capture) is recorded as stale and changes nothing,
which is what keeps events for one payment in a consistent order.
"""

from __future__ import annotations

from enum import StrEnum

from kommerce.http.errors import Conflict


class Status(StrEnum):
    PENDING = "pending"
    REQUIRES_ACTION = "requires_action"
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"
    FAILED = "failed"
    DISPUTED = "disputed"


S = Status
MOVES: dict[Status, frozenset[Status]] = {
    S.PENDING: frozenset({S.REQUIRES_ACTION, S.AUTHORIZED, S.CAPTURED, S.FAILED, S.CANCELLED}),
    S.REQUIRES_ACTION: frozenset({S.AUTHORIZED, S.CAPTURED, S.FAILED, S.CANCELLED}),
    S.AUTHORIZED: frozenset({S.CAPTURED, S.CANCELLED}),
    S.CAPTURED: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED, S.DISPUTED}),
    S.PARTIALLY_REFUNDED: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED, S.DISPUTED}),
    S.REFUNDED: frozenset({S.DISPUTED}),
    S.DISPUTED: frozenset({S.CAPTURED, S.PARTIALLY_REFUNDED, S.REFUNDED}),
    S.CANCELLED: frozenset(),
    S.FAILED: frozenset(),
}

# Outcomes a saga's authorize_payment waits for: success, or failure.
AUTHORIZED_OR_BETTER = frozenset({S.AUTHORIZED, S.CAPTURED})
FINAL = frozenset({S.CANCELLED, S.FAILED})
# Money has been taken: refunds and disputes apply.
CAPTURED_STATES = frozenset({S.CAPTURED, S.PARTIALLY_REFUNDED, S.REFUNDED, S.DISPUTED})


def can_move(current: Status | str, to: Status | str) -> bool:
    return Status(to) in MOVES[Status(current)]


class IllegalTransition(Conflict):
    slug = "illegal-transition"
    title = "Illegal payment transition"

    def __init__(self, payment_id: str, current: str, to: str) -> None:
        allowed = ", ".join(sorted(MOVES[Status(current)])) or "none (final)"
        super().__init__(
            f"payment {payment_id} is {current}; it cannot become {to} (allowed: {allowed})"
        )


def after_refund(captured_minor: int, refunded_minor: int) -> Status:
    """The status a captured payment has once `refunded_minor` of it is refunded."""
    if refunded_minor <= 0:
        return S.CAPTURED
    return S.REFUNDED if refunded_minor >= captured_minor else S.PARTIALLY_REFUNDED
