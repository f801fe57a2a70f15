"""Invoices and credit notes: `render` draws the PDF from plain data, `issue` numbers, stores
and records them (once per order / refund); the routes are in `services/order/api/documents.py`.

Callers: `await issue_invoice(session, c.documents, order_id)` when an order becomes paid and
`await issue_credit_note(session, c.documents, refund_id)` when a refund succeeds, inside the
handler's transaction (idempotent; see `issue` for the order of operations).
"""

from services.order.documents.issue import (
    Document,
    DocumentStore,
    issue_credit_note,
    issue_invoice,
)

__all__ = ["Document", "DocumentStore", "issue_credit_note", "issue_invoice"]
