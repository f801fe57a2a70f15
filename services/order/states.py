"""The order state machine: the statuses, the legal moves, and who may make each.

    pending ─▶ awaiting_payment ─▶ paid ─▶ fulfilling ─▶ shipped ─▶ delivered ─▶ return_requested
       │              │             │                                  ▲               │
       ▼              ▼             ▼                        (rejected)└───────────────┤
    cancelled   payment_failed   cancelled                                             ▼
                                                                  refunded ◀─ returned

`pending`: the order exists, the checkout saga is reserving stock. `awaiting_payment`: stock is
held, the payment is being authorized. `paid`: authorized (captured at fulfilment by the payment
service). A partial refund of a delivered order keeps its status and raises `refunded_minor`;
`refunded` is the end of a return.

Every move is checked against `MOVES` (source, target → who may make it) and recorded as a row
of `order_history`; anything else is an `IllegalTransition` (HTTP 409 `illegal-transition`) that
names the moves the order does have.
"""

from __future__ import annotations

from enum import StrEnum

from kommerce.http.errors import Conflict


class OrderStatus(StrEnum):
    PENDING = "pending"
    AWAITING_PAYMENT = "awaiting_payment"
    PAID = "paid"
    FULFILLING = "fulfilling"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    PAYMENT_FAILED = "payment_failed"
    RETURN_REQUESTED = "return_requested"
    RETURNED = "returned"
    REFUNDED = "refunded"


class Actor(StrEnum):
    CUSTOMER = "customer"  # the shopper who owns the order
    STAFF = "staff"  # support/merchant staff with orders:fulfil
    SYSTEM = "system"  # the service itself: sagas, carrier webhooks, timers


S = OrderStatus
_SYSTEM = frozenset({Actor.SYSTEM})
_STAFF = frozenset({Actor.STAFF, Actor.SYSTEM})
_ANYONE = frozenset(Actor)

MOVES: dict[tuple[OrderStatus, OrderStatus], frozenset[Actor]] = {
    (S.PENDING, S.AWAITING_PAYMENT): _SYSTEM,  # stock reserved
    (S.PENDING, S.CANCELLED): _SYSTEM,  # out of stock, or the reservation timed out
    (S.AWAITING_PAYMENT, S.PAID): _SYSTEM,  # payment authorized
    (S.AWAITING_PAYMENT, S.PAYMENT_FAILED): _SYSTEM,  # declined or timed out; stock released
    (S.AWAITING_PAYMENT, S.CANCELLED): _SYSTEM,  # the reservation could not be committed
    (S.PAID, S.FULFILLING): _STAFF,
    (S.PAID, S.CANCELLED): _ANYONE,  # before fulfilment starts; the authorization is voided
    (S.FULFILLING, S.SHIPPED): _STAFF,
    (S.SHIPPED, S.DELIVERED): _STAFF,  # the carrier webhook (system) or staff
    (S.DELIVERED, S.RETURN_REQUESTED): _ANYONE,
    (S.RETURN_REQUESTED, S.DELIVERED): _STAFF,  # return rejected
    (S.RETURN_REQUESTED, S.RETURNED): _STAFF,  # goods received
    (S.RETURNED, S.REFUNDED): _SYSTEM,  # the refund saga finished
}

FINAL = frozenset({S.CANCELLED, S.PAYMENT_FAILED, S.REFUNDED})


class IllegalTransition(Conflict):
    """A move the state machine does not allow (or not to this actor)."""

    slug, title = "illegal-transition", "The order cannot make this status change"

    def __init__(self, current: OrderStatus, target: OrderStatus, actor: Actor) -> None:
        self.current, self.target, self.actor = current, target, actor
        allowed = moves_from(current, actor)
        if (current, target) in MOVES:
            why = f"a {actor.value} cannot move an order from {current} to {target}"
        else:
            why = f"an order cannot go from {current} to {target}"
        options = ", ".join(sorted(allowed)) if allowed else "nothing (it is final)"
        super().__init__(
            f"{why}; from {current} a {actor.value} can move it to: {options}",
            status_now=current.value,
            requested=target.value,
            allowed=sorted(allowed),
        )


def moves_from(current: OrderStatus, actor: Actor) -> set[str]:
    return {t.value for (s, t), who in MOVES.items() if s == current and actor in who}


def check(current: OrderStatus, target: OrderStatus, actor: Actor) -> None:
    """Raise `IllegalTransition` unless `actor` may move an order from `current` to `target`."""
    if actor not in MOVES.get((current, target), frozenset()):
        raise IllegalTransition(current, target, actor)
