"""The payment service's events, recorded through the core outbox in the changing transaction.

`payment.status_changed` accompanies every status change; `payment.authorized` (the order's
amount is held) and `payment.dispute_opened` (staff must answer a chargeback) are for the
notification service and other readers.
"""

from __future__ import annotations

from kommerce.events.emitter import Emitter

STATUS_CHANGED = "payment.status_changed"
AUTHORIZED = "payment.authorized"
DISPUTE_OPENED = "payment.dispute_opened"

emit = Emitter("payment")
