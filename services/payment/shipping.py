"""Capture at shipment: a checkout payment is authorized (held) at checkout and captured when
the order ships (`order.shipped`), as card-network rules expect for goods.

Applied in the consumer's transaction with the inbox row, so each event captures once; the
provider call carries the key `<payment_id>:capture`, so a redelivery after a crash cannot
capture twice. A payment held for fraud review is not captured automatically: staff capture it
(`POST /v1/payments/{id}/capture`) once reviewed. A payment already captured (automatic
capture), cancelled or failed is left alone.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.events.serde import Event
from services.payment import authorization, payments
from services.payment.context import PaymentContext
from services.payment.states import Status

log = logging.getLogger("services.payment.shipping")

EVENT = "order.shipped"


async def on_order_shipped(ctx: PaymentContext, session: AsyncSession, event: Event) -> None:
    order_id = str(event.payload["order_id"])
    row = await payments.find(session, order_id=order_id, lock=True)
    if row is None or row.status != Status.AUTHORIZED:
        return
    source = f"event:{EVENT}:{event.event_id}"
    if row.fraud_decision == "review":
        await payments.record(
            session, row, action="capture-held", source=source, detail="held for fraud review"
        )
        log.warning("order %s shipped; payment %s held for fraud review", order_id, row.payment_id)
        return
    await authorization.capture(
        ctx, session, row, None, idempotency_key=f"{row.payment_id}:capture", source=source
    )
