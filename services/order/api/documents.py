"""An order's invoice and credit notes: list, download the PDF, issue the invoice (staff).

The customer who owns the order and staff with `orders:read` see its documents; for anyone
else the order does not exist (404, never 403: whether an order exists is not revealed).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field

from kommerce.auth.claims import Principal
from kommerce.http.errors import DependencyUnavailable, NotFound
from kommerce.http.responses import problems
from services.order import orders
from services.order.context import Ctx, Customer, Fulfiller
from services.order.documents.issue import PDF, Document, document, documents_of, issue_invoice

router = APIRouter(tags=["documents"], responses=problems(401, 404, 422))

NUMBER = r"^(INV|CN)-[0-9]{6,12}$"


class DocumentNotFound(NotFound):
    slug, title = "document-not-found", "No such document"


class DocumentUnavailable(DependencyUnavailable):
    slug, title = "document-unavailable", "The document cannot be read now"


class DocumentOut(BaseModel):
    number: str = Field(examples=["INV-000042"])
    kind: Literal["invoice", "credit_note"]
    order_id: uuid.UUID
    refund_id: uuid.UUID | None = Field(description="credit notes: the refund they document")
    total_minor: int = Field(
        description="integer minor units; negative for a credit note (the amount credited)"
    )
    currency: str
    sha256: str = Field(description="of the PDF's bytes")
    issued_at: datetime
    download: str = Field(description="the path of the PDF")


def document_out(d: Document) -> DocumentOut:
    return DocumentOut(
        number=d.number,
        kind="invoice" if d.kind == "invoice" else "credit_note",
        order_id=d.order_id,
        refund_id=d.refund_id,
        total_minor=d.total_minor,
        currency=d.currency,
        sha256=d.sha256,
        issued_at=d.created_at,
        download=f"/v1/orders/{d.order_id}/documents/{d.number}",
    )


async def _visible(c: Ctx, principal: Principal, order_id: uuid.UUID) -> None:
    """404 unless the caller is staff who reads orders or the customer who owns this one."""
    async with c.db.session() as session:
        order = await orders.load(session, order_id)
    if principal.can("orders:read"):
        return
    if principal.user_id != str(order.customer_id):
        raise orders.OrderNotFound(f"order {order_id} does not exist")


@router.get("/v1/orders/{order_id}/documents", response_model=list[DocumentOut])
async def list_documents(order_id: uuid.UUID, principal: Customer, c: Ctx) -> list[DocumentOut]:
    """The order's invoice and credit notes, oldest first."""
    await _visible(c, principal, order_id)
    async with c.db.session() as session:
        return [document_out(d) for d in await documents_of(session, order_id)]


@router.get(
    "/v1/orders/{order_id}/documents/{number}",
    response_class=Response,
    responses={
        200: {
            "description": "the PDF",
            "content": {PDF: {"schema": {"type": "string", "format": "binary"}}},
        },
        **problems(503),
    },
)
async def download_document(
    order_id: uuid.UUID,
    number: Annotated[str, Path(pattern=NUMBER, examples=["INV-000042"])],
    principal: Customer,
    c: Ctx,
) -> Response:
    """The PDF of an invoice or credit note (`Content-Disposition: attachment`)."""
    await _visible(c, principal, order_id)
    async with c.db.session() as session:
        found = await document(session, order_id, number)
    if found is None:
        raise DocumentNotFound(f"order {order_id} has no document {number}")
    data = await c.documents.get(found.object_key)
    if data is None or hashlib.sha256(data).hexdigest() != found.sha256:
        raise DocumentUnavailable(f"the stored PDF of {number} is missing or does not match")
    return Response(
        content=data,
        media_type=PDF,
        headers={
            "Content-Disposition": f'attachment; filename="{number}.pdf"',
            "ETag": f'"{found.sha256}"',
            "Cache-Control": "private, max-age=3600",
        },
    )


@router.post(
    "/v1/orders/{order_id}/invoice",
    response_model=DocumentOut,
    status_code=201,
    responses={
        200: {"model": DocumentOut, "description": "the invoice existed already"},
        **problems(403, 409, 503),
    },
)
async def issue(
    order_id: uuid.UUID, principal: Fulfiller, c: Ctx, response: Response
) -> DocumentOut:
    """Issue the order's invoice if it has none (paid or later); idempotent: 200 with the
    existing invoice otherwise."""
    async with c.db.session() as session:
        invoice = await issue_invoice(session, c.documents, order_id)
    if not invoice.created:
        response.status_code = 200
    return document_out(invoice)
