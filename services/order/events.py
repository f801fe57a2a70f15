"""The order service's events, recorded through the core outbox in the changing transaction.

`order.status_changed` accompanies every status change (the customer read model replays it);
`order.placed`, `order.confirmed`, `order.cancelled`, `order.shipped`, `order.delivered` and
`order.refunded` carry what the notification service and other readers need.
"""

from __future__ import annotations

from kommerce.events.emitter import Emitter

PLACED = "order.placed"
STATUS_CHANGED = "order.status_changed"
CONFIRMED = "order.confirmed"
CANCELLED = "order.cancelled"
SHIPPED = "order.shipped"
DELIVERED = "order.delivered"
REFUNDED = "order.refunded"

emit = Emitter("order")
