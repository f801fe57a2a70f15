"""Fixtures for invoices and credit notes: the real order app on the test stack's PostgreSQL
(a fresh `orders_t<random>` schema, migrated by the app's lifespan), Redis and S3 (moto server;
a bucket per session), reached over ASGI. Orders, lines and refunds are written with SQLAlchemy
Core as checkout and the refund saga would leave them, so these tests do not depend on those
flows."""

from __future__ import annotations

import io
import unicodedata
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pypdf import PdfReader
from sqlalchemy import insert

from services.order.app import create_app
from services.order.context import OrderContext
from services.order.settings import OrderSettings
from services.order.tables import (
    ORDER_LINES,
    ORDER_NUMBERS,
    ORDERS,
    REFUNDS,
    RETURN_LINES,
    RETURNS,
    TAX_RATES,
)
from tests.integration.apps import serving
from tests.tokens import TokenMinter

ADDRESS = {
    "name": "Jürgen Groß",
    "line1": "Hauptstraße 1",
    "city": "München",
    "postal_code": "80331",
    "country": "DE",
}


@pytest.fixture(scope="package")
def order_settings(stack_env: dict[str, str]) -> OrderSettings:
    tag = uuid.uuid4().hex[:8]
    return OrderSettings(
        environment="test",
        schema_name=f"orders_t{tag}",
        invoice_bucket=f"invoices-{tag}",
        consumer_group=f"order-t{tag}",
        relay_enabled=False,
        consumer_enabled=False,
        seller_name="Kommerce Test Store GmbH",
    )


@dataclass
class Running:
    app: FastAPI
    client: httpx.AsyncClient
    minter: TokenMinter

    @property
    def ctx(self) -> OrderContext:
        c: OrderContext = self.app.state.ctx
        return c

    def bearer(self, *roles: str, user_id: uuid.UUID | str | None = None) -> dict[str, str]:
        return self.minter.bearer(roles=list(roles), user_id=str(user_id) if user_id else None)


@pytest.fixture(scope="package")
async def order_service(
    order_settings: OrderSettings, minter: TokenMinter, stack_env: dict[str, str]
) -> AsyncIterator[Running]:
    app = create_app(order_settings, auth=minter.authenticator())
    async with serving(app, base_url="http://order.test") as client:
        async with app.state.ctx.db.session() as session:
            for country, name, rate_bp in (("DE", "VAT", 1900), ("JP", "JCT", 1000)):
                await session.execute(
                    insert(TAX_RATES).values(country=country, name=name, rate_bp=rate_bp)
                )
        yield Running(app, client, minter)


@pytest.fixture
def svc(order_service: Running) -> Running:
    return order_service


def line_tax(net_minor: int, rate_bp: int) -> int:
    return int((Decimal(net_minor) * rate_bp / 10_000).quantize(1, rounding=ROUND_HALF_EVEN))


@dataclass(frozen=True)
class Placed:
    id: uuid.UUID
    number: str
    customer_id: uuid.UUID
    row: dict[str, Any]
    lines: list[dict[str, Any]]


async def place(
    svc: Running,
    *,
    currency: str = "EUR",
    locale: str = "de_DE",
    lines: list[tuple[str, str, int, int, int, int]],  # name, sku, qty, unit, discount, rate
    shipping_minor: int = 0,
    status: str = "paid",
    customer_id: uuid.UUID | None = None,
    country: str = "DE",
) -> Placed:
    """An order as checkout leaves it (tax per line on the discounted net, half-even)."""
    order_id, customer = uuid.uuid4(), customer_id or uuid.uuid4()
    rows: list[dict[str, Any]] = []
    for n, (name, sku, qty, unit, discount, rate_bp) in enumerate(lines, start=1):
        net = qty * unit - discount
        tax = line_tax(net, rate_bp)
        rows.append(
            {
                "order_id": order_id,
                "line_no": n,
                "variant_id": uuid.uuid4(),
                "product_id": uuid.uuid4(),
                "sku": sku,
                "name": name,
                "quantity": qty,
                "unit_price_minor": unit,
                "discount_minor": discount,
                "tax_rate_bp": rate_bp,
                "tax_minor": tax,
                "total_minor": net + tax,
            }
        )
    subtotal = sum(r["quantity"] * r["unit_price_minor"] for r in rows)
    discount = sum(r["discount_minor"] for r in rows)
    tax = sum(r["tax_minor"] for r in rows)
    address = ADDRESS | {"country": country}
    async with svc.ctx.db.session() as session:
        number = f"KO-{int(await session.scalar(ORDER_NUMBERS.next_value())):06d}"
        order = {
            "id": order_id,
            "number": number,
            "customer_id": customer,
            "email": "shopper@example.com",
            "locale": locale,
            "status": status,
            "currency": currency,
            "subtotal_minor": subtotal,
            "discount_minor": discount,
            "shipping_minor": shipping_minor,
            "tax_minor": tax,
            "total_minor": subtotal - discount + shipping_minor + tax,
            "shipping_method": "standard",
            "shipping_address": address,
            "billing_address": address,
            "payment_method": "pm_card_visa",
        }
        await session.execute(insert(ORDERS).values(**order))
        await session.execute(insert(ORDER_LINES), rows)
    return Placed(order_id, number, customer, order, rows)


async def refund(
    svc: Running,
    order: Placed,
    amount_minor: int,
    *,
    status: str = "succeeded",
    returned: dict[int, int] | None = None,
    reason: str = "goodwill",
) -> uuid.UUID:
    """A refund row (and its return, when lines go back) as the refund saga leaves it."""
    refund_id, return_id = uuid.uuid4(), None
    async with svc.ctx.db.session() as session:
        if returned:
            return_id = uuid.uuid4()
            await session.execute(
                insert(RETURNS).values(
                    id=return_id,
                    order_id=order.id,
                    status="refunded",
                    reason="damaged",
                    requested_by=str(order.customer_id),
                )
            )
            await session.execute(
                insert(RETURN_LINES),
                [
                    {"return_id": return_id, "line_no": n, "quantity": q}
                    for n, q in returned.items()
                ],
            )
        await session.execute(
            insert(REFUNDS).values(
                id=refund_id,
                order_id=order.id,
                return_id=return_id,
                amount_minor=amount_minor,
                currency=order.row["currency"],
                status=status,
                reason=reason,
                requested_by="staff",
            )
        )
    return refund_id


def pdf_text(data: bytes) -> str:
    """The PDF's text, compatibility-normalised (no-break spaces are spaces)."""
    assert data.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return unicodedata.normalize("NFKC", text)
