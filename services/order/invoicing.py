"""Invoices for paid orders, issued in the background rather than in the saga's transaction.

Rendering and uploading a PDF takes a few hundred milliseconds and needs S3; the checkout saga
must not wait for either, nor stall when S3 is down. So every `invoice_interval_seconds` the
service looks for orders that are paid (or further along) without an invoice and issues one per
order, each in its own transaction (`documents.issue.issue_invoice` is idempotent). An order
gets its invoice a moment after it is paid; an S3 outage only delays invoices.
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import and_, exists, select

from services.order.context import OrderContext
from services.order.documents.issue import INVOICEABLE, issue_invoice
from services.order.tables import DOCUMENTS, ORDERS

log = logging.getLogger("kommerce.order.invoicing")


async def due(c: OrderContext, *, limit: int = 20) -> list[uuid.UUID]:
    """Orders that should have an invoice and have none, oldest first."""
    invoiced = exists().where(
        and_(DOCUMENTS.c.order_id == ORDERS.c.id, DOCUMENTS.c.kind == "invoice")
    )
    async with c.db.session() as session:
        rows = await session.execute(
            select(ORDERS.c.id)
            .where(ORDERS.c.status.in_([s.value for s in INVOICEABLE]))
            .where(~invoiced)
            .order_by(ORDERS.c.updated_at)
            .limit(limit)
        )
        return list(rows.scalars())


async def issue_due(c: OrderContext) -> int:
    """Issue the missing invoices; returns how many were issued."""
    issued = 0
    while orders := await due(c):
        for order_id in orders:
            async with c.db.session() as session:
                await issue_invoice(session, c.documents, order_id)
            issued += 1
        if len(orders) < 20:
            break
    if issued:
        log.info("issued %d invoice(s)", issued)
    return issued
