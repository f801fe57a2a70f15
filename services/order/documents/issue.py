"""Issuing invoices and credit notes: number, render, upload, record — once per order/refund.

`issue_invoice(session, store, order_id)` and `issue_credit_note(session, store, refund_id)` run
in the caller's transaction (a request, a consumer's or saga handler's) and are idempotent: a
second call, a concurrent call or a retry after a failure returns the one document there is.

Order of operations, and why nothing is lost or doubled:

1. Lock the order row (`SELECT ... FOR UPDATE`; a saga handler that just moved the order holds
   it already). Everyone issuing a document for this order queues here, so two concurrent
   calls cannot both decide "there is no invoice yet".
2. Look for the document (the invoice of the order / the credit note of the refund). If it is
   there, return it: the redelivered event or the retried handler stops here.
3. Check the order (paid or later) or the refund (succeeded).
4. Take the next number from the sequence (`invoice_numbers` / `credit_note_numbers`).
5. Render the PDF (in a worker thread) and upload it to the object store under
   `invoices/<order_id>/<number>.pdf`. The key contains the new number, so an upload never
   overwrites a document that exists.
6. Insert the `documents` row (with the sha256 of the bytes). The unique indexes
   (`documents_one_invoice_idx`, `documents_one_credit_note_idx`) back up step 1: on a conflict
   the object just uploaded is deleted and the existing row returned.
7. The caller commits.

The row commits only after its object is stored, so every recorded document can be downloaded.
A failure before the commit (upload error, crash, rollback of the caller's transaction) leaves
no row, so the retry issues the document again from step 1; what it can leave behind is an
unreferenced object and an unused number (sequences are not transactional: numbers are unique
and increasing, with gaps where a transaction rolled back).
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy import Row, Sequence, case, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.data.objects import ObjectStore, s3_store
from kommerce.http.errors import Conflict, DependencyUnavailable, NotFound
from services.order import orders
from services.order.documents import render
from services.order.settings import OrderSettings
from services.order.states import OrderStatus
from services.order.tables import (
    CREDIT_NOTE_NUMBERS,
    DOCUMENTS,
    INVOICE_NUMBERS,
    ORDER_LINES,
    REFUNDS,
    RETURN_LINES,
    TAX_RATES,
)

PDF = "application/pdf"
S = OrderStatus
# An invoice exists once the money is there: paid and every status an order reaches after it.
INVOICEABLE = frozenset(
    {S.PAID, S.FULFILLING, S.SHIPPED, S.DELIVERED, S.RETURN_REQUESTED, S.RETURNED, S.REFUNDED}
)


# The unique partial indexes: one invoice per order, one credit note per refund. Their predicates
# are literal SQL: with a bound parameter PostgreSQL cannot infer the index for ON CONFLICT.
ONE_PER = {
    "invoice": (["order_id"], text("kind = 'invoice'")),
    "credit_note": (["refund_id"], text("kind = 'credit_note'")),
}


class StorageUnavailable(DependencyUnavailable):
    slug, title = "document-storage-unavailable", "The document store cannot be reached"


class NotInvoiceable(Conflict):
    slug, title = "order-not-invoiceable", "The order cannot be invoiced yet"


class RefundNotFound(NotFound):
    slug, title = "refund-not-found", "No such refund"


class RefundNotSucceeded(Conflict):
    slug, title = "refund-not-succeeded", "Only a succeeded refund gets a credit note"


@dataclass(frozen=True)
class Document:
    id: uuid.UUID
    order_id: uuid.UUID
    kind: str  # invoice | credit_note
    number: str
    refund_id: uuid.UUID | None
    object_key: str
    total_minor: int  # credit notes: negative, the amount credited
    currency: str
    sha256: str
    created_at: datetime
    created: bool = field(default=False, compare=False)  # issued by this call, not found

    @classmethod
    def of(cls, row: Row[Any], *, created: bool = False) -> Document:
        values = row._mapping
        return cls(**{c.name: values[c.name] for c in DOCUMENTS.columns}, created=created)


@dataclass
class DocumentStore:
    """Where documents go and what they need beyond the database: the object store (bucket
    `invoice_bucket`), the seller block, the fonts (found on first use)."""

    objects: ObjectStore
    seller: render.Seller
    font: Path | None = None  # the configured font files; None: the system's DejaVu Sans
    font_bold: Path | None = None
    _fonts: render.Fonts | None = None

    @classmethod
    def from_settings(cls, settings: OrderSettings) -> DocumentStore:
        return cls(
            objects=s3_store(settings, bucket=settings.invoice_bucket),
            seller=render.Seller(
                settings.seller_name, settings.seller_address, settings.seller_tax_id
            ),
            font=settings.invoice_font,
            font_bold=settings.invoice_font_bold,
        )

    def fonts(self) -> render.Fonts:
        if self._fonts is None:
            self._fonts = render.find_fonts(self.font, self.font_bold)
        return self._fonts

    async def pdf(self, data: render.DocumentData) -> bytes:
        return await asyncio.to_thread(render.render, data, self.fonts())

    async def put(self, key: str, data: bytes) -> None:
        try:
            await self.objects.put(key, data, PDF)
        except (BotoCoreError, ClientError, OSError) as exc:
            raise StorageUnavailable(f"cannot store {key}: {exc}") from exc

    async def get(self, key: str) -> bytes | None:
        try:
            return await self.objects.get(key)
        except (BotoCoreError, ClientError, OSError) as exc:
            raise StorageUnavailable(f"cannot read {key}: {exc}") from exc


def object_key(order_id: uuid.UUID, number: str) -> str:
    return f"invoices/{order_id}/{number}.pdf"


async def _existing(session: AsyncSession, **where: Any) -> Document | None:
    query = select(DOCUMENTS)
    for column, value in where.items():
        query = query.where(DOCUMENTS.c[column] == value)
    row = (await session.execute(query)).first()
    return Document.of(row) if row else None


async def _next_number(session: AsyncSession, sequence: Sequence, prefix: str) -> str:
    value = await session.scalar(sequence.next_value())
    return f"{prefix}-{int(value):06d}"


async def _tax_name(session: AsyncSession, shipping: dict[str, Any]) -> str:
    name = await session.scalar(
        select(TAX_RATES.c.name).where(TAX_RATES.c.country == shipping.get("country"))
    )
    return str(name) if name else "Tax"


async def _lines(session: AsyncSession, order_id: uuid.UUID) -> list[dict[str, Any]]:
    query = select(ORDER_LINES).where(ORDER_LINES.c.order_id == order_id)
    rows = await session.execute(query.order_by(ORDER_LINES.c.line_no))
    return [dict(r) for r in rows.mappings()]


async def _store(
    session: AsyncSession,
    store: DocumentStore,
    data: render.DocumentData,
    *,
    order_id: uuid.UUID,
    refund_id: uuid.UUID | None,
    total_minor: int,
) -> Document:
    """Steps 5 and 6: render, upload, insert (or find the winner of a race)."""
    pdf = await store.pdf(data)
    key = object_key(order_id, data.number)
    await store.put(key, pdf)
    statement = insert(DOCUMENTS).values(
        id=uuid.uuid4(),
        order_id=order_id,
        kind=data.kind,
        number=data.number,
        refund_id=refund_id,
        object_key=key,
        total_minor=total_minor,
        currency=data.currency,
        sha256=hashlib.sha256(pdf).hexdigest(),
        created_at=data.issued_at,
    )
    target, where = ONE_PER[data.kind]
    statement = statement.on_conflict_do_nothing(index_elements=target, index_where=where)
    row = (await session.execute(statement.returning(*DOCUMENTS.columns))).first()
    if row is not None:
        return Document.of(row, created=True)
    await store.objects.delete(key)  # another issuer won; ours is not referenced
    existing = await _existing(
        session,
        kind=data.kind,
        **({"order_id": order_id} if data.kind == "invoice" else {"refund_id": refund_id}),
    )
    if existing is None:  # pragma: no cover - the conflicting row is visible once it conflicts
        raise Conflict(f"{data.kind} for order {order_id} is being issued; retry")
    return existing


def _base(
    order: dict[str, Any], store: DocumentStore, tax_name: str, issued_at: datetime
) -> dict[str, Any]:
    return {
        "issued_at": issued_at,
        "order_number": order["number"],
        "order_date": order["created_at"],
        "currency": order["currency"],
        "locale": order["locale"],
        "seller": store.seller,
        "billing": order["billing_address"],
        "shipping": order["shipping_address"],
        "tax_name": tax_name,
    }


async def issue_invoice(
    session: AsyncSession,
    store: DocumentStore,
    order_id: uuid.UUID,
    *,
    now: datetime | None = None,
) -> Document:
    """The invoice of a paid (or later) order: the existing one, or a new one (see above)."""
    order = await orders.load(session, order_id, lock=True)
    if existing := await _existing(session, order_id=order_id, kind="invoice"):
        return existing
    if order.status not in INVOICEABLE:
        raise NotInvoiceable(
            f"order {order.row['number']} is {order.status}; an invoice is issued once it is paid",
            status_now=order.status.value,
        )
    r = order.row
    lines = [
        render.Line(
            name=line["name"],
            sku=line["sku"],
            quantity=line["quantity"],
            unit_price_minor=line["unit_price_minor"],
            discount_minor=line["discount_minor"],
            tax_rate_bp=line["tax_rate_bp"],
            tax_minor=line["tax_minor"],
            total_minor=line["total_minor"],
        )
        for line in await _lines(session, order_id)
    ]
    number = await _next_number(session, INVOICE_NUMBERS, "INV")
    data = render.DocumentData(
        kind="invoice",
        number=number,
        lines=tuple(lines),
        totals=render.Totals(
            subtotal_minor=r["subtotal_minor"],
            discount_minor=r["discount_minor"],
            shipping_minor=r["shipping_minor"],
            tax_minor=r["tax_minor"],
            total_minor=r["total_minor"],
        ),
        groups=tuple(
            render.tax_groups(
                lines, extra_tax_minor=r["tax_minor"] - sum(x.tax_minor for x in lines)
            )
        ),
        **_base(r, store, await _tax_name(session, r["shipping_address"]), now or _now()),
    )
    return await _store(
        session, store, data, order_id=order_id, refund_id=None, total_minor=r["total_minor"]
    )


def credited_lines(
    order_lines: list[dict[str, Any]],
    returned: dict[int, int],
    shipping_minor: int,
    amount_minor: int,
) -> list[render.Line]:
    """What a refund of `amount_minor` credits, line by line.

    A refund for a return credits the returned quantities of their lines; any other refund is
    spread over all lines and the shipping charge. The amount is divided in proportion to the
    gross value each part had on the invoice (parts add up exactly), and the tax in each part is
    worked out at its line's rate, so the credit note's tax lines mirror the invoice's.
    """
    # (name, sku, quantity shown (0: nothing goes back), unit price, tax rate, gross weight)
    parts: list[tuple[str, str, int, int, int, int]] = []
    for line in order_lines:
        qty = returned.get(line["line_no"], 0) if returned else 0
        if returned and not qty:
            continue
        weight = line["total_minor"] * qty // line["quantity"] if qty else line["total_minor"]
        parts.append(
            (line["name"], line["sku"], qty, line["unit_price_minor"], line["tax_rate_bp"], weight)
        )
    if not returned and shipping_minor:
        parts.append(("Shipping", "", 0, shipping_minor, 0, shipping_minor))
    if not parts:
        parts.append(("Refund", "", 0, amount_minor, 0, amount_minor))
    amounts = render.allocate(amount_minor, [p[-1] for p in parts])
    kept = [(p, g) for p, g in zip(parts, amounts, strict=True) if g] or [(parts[0], amounts[0])]
    return [
        render.Line(
            name=name,
            sku=sku,
            quantity=qty,
            unit_price_minor=unit,
            discount_minor=0,
            tax_rate_bp=rate_bp,
            tax_minor=render.tax_in_gross(gross, rate_bp),
            total_minor=gross,
        )
        for (name, sku, qty, unit, rate_bp, _), gross in kept
    ]


async def issue_credit_note(
    session: AsyncSession,
    store: DocumentStore,
    refund_id: uuid.UUID,
    *,
    now: datetime | None = None,
) -> Document:
    """The credit note of a succeeded refund, correcting the order's invoice (issued first if
    the order has none yet): the existing one, or a new one (see above)."""
    order_id = await session.scalar(select(REFUNDS.c.order_id).where(REFUNDS.c.id == refund_id))
    if order_id is None:
        raise RefundNotFound(f"refund {refund_id} does not exist")
    invoice = await issue_invoice(session, store, order_id, now=now)  # locks the order
    if existing := await _existing(session, refund_id=refund_id, kind="credit_note"):
        return existing
    refund = (
        (await session.execute(select(REFUNDS).where(REFUNDS.c.id == refund_id))).mappings().one()
    )
    if refund["status"] != "succeeded":
        raise RefundNotSucceeded(
            f"refund {refund_id} is {refund['status']}; a credit note follows a succeeded refund",
            status_now=refund["status"],
        )
    order = (await orders.load(session, order_id)).row
    returned: dict[int, int] = {}
    if refund["return_id"] is not None:
        rows = await session.execute(
            select(RETURN_LINES.c.line_no, RETURN_LINES.c.quantity).where(
                RETURN_LINES.c.return_id == refund["return_id"]
            )
        )
        returned = {int(n): int(q) for n, q in rows}
    amount = int(refund["amount_minor"])
    lines = credited_lines(
        await _lines(session, order_id), returned, order["shipping_minor"], amount
    )
    tax = sum(x.tax_minor for x in lines)
    number = await _next_number(session, CREDIT_NOTE_NUMBERS, "CN")
    data = render.DocumentData(
        kind="credit_note",
        number=number,
        lines=tuple(lines),
        totals=render.Totals(
            subtotal_minor=amount - tax,
            discount_minor=0,
            shipping_minor=0,
            tax_minor=tax,
            total_minor=amount,
        ),
        groups=tuple(render.tax_groups(lines)),
        refers_to=invoice.number,
        note=refund["reason"] or "",
        **_base(order, store, await _tax_name(session, order["shipping_address"]), now or _now()),
    )
    return await _store(
        session, store, data, order_id=order_id, refund_id=refund_id, total_minor=-amount
    )


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


async def documents_of(session: AsyncSession, order_id: uuid.UUID) -> list[Document]:
    rows = await session.execute(
        select(DOCUMENTS)
        .where(DOCUMENTS.c.order_id == order_id)
        .order_by(
            DOCUMENTS.c.created_at,
            case((DOCUMENTS.c.kind == "invoice", 0), else_=1),  # issued in the same second
            DOCUMENTS.c.number,
        )
    )
    return [Document.of(r) for r in rows]


async def document(session: AsyncSession, order_id: uuid.UUID, number: str) -> Document | None:
    return await _existing(session, order_id=order_id, number=number)
