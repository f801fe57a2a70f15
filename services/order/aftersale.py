"""After the sale, wired into the app: routers, consumed events, and the saga timeout job.

`services/order/app.py` adds `ROUTERS` to its routers, `subscriptions(c)` to its consumer's
subscriptions and runs `timeouts(c)` every `saga_timeout_check_seconds`.
"""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.events.serde import Event
from services.order import fulfilment, read_model, refunds
from services.order.api import carriers, my_orders, returns
from services.order.api import fulfilment as fulfilment_api
from services.order.consumers import Subscription
from services.order.context import OrderContext

ROUTERS: list[APIRouter] = [
    fulfilment_api.router,
    carriers.router,
    returns.router,
    my_orders.router,
]


def subscriptions(c: OrderContext) -> list[Subscription]:
    """Replies of the `refund` and `cancel` sagas (each handler ignores other saga types: every
    `saga.reply` subscription sees every reply the consumer reads) and the read model."""

    async def refund_reply(event: Event, session: AsyncSession) -> None:
        await refunds.on_reply(session, event, c.settings, c.documents)

    async def cancel_reply(event: Event, session: AsyncSession) -> None:
        await fulfilment.on_cancel_reply(session, event, c.settings)

    return [
        Subscription("saga.reply", (f"{refunds.SAGA}.replies.v1",), refund_reply),
        Subscription("saga.reply", (f"{fulfilment.CANCEL_SAGA}.replies.v1",), cancel_reply),
        *read_model.subscriptions(),
    ]


async def timeouts(c: OrderContext) -> int:
    """Retry or give up the overdue steps of the refund and cancel sagas."""
    async with c.db.session() as session:
        moved = await refunds.on_timeouts(session, c.settings)
        moved += await fulfilment.cancel_orchestrator(c.settings).on_timeouts(session)
    return moved
