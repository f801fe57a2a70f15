"""Request and response bodies of the order API (amounts are integer minor units)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from kommerce.locales import check_country, check_locale

NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL
Text200 = Annotated[str, Field(min_length=1, max_length=200, pattern=NO_NUL)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Address(Strict):
    name: Text200
    line1: Text200
    line2: Annotated[str, Field(max_length=200, pattern=NO_NUL)] | None = None
    city: Text200
    postal_code: Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9 -]+$")]
    region: Annotated[str, Field(max_length=100, pattern=NO_NUL)] | None = None
    country: str = Field(description="ISO 3166-1 alpha-2, e.g. DE")
    phone: Annotated[str, Field(max_length=30, pattern=r"^\+?[0-9 ()-]+$")] | None = None
    # optional: lets inventory pick the nearest warehouse
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str) -> str:
        return check_country(value)


class CheckoutIn(Strict):
    email: EmailStr
    shipping_address: Address
    billing_address: Address | None = Field(
        default=None, description="defaults to the shipping address"
    )
    shipping_method: Annotated[
        str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    ]
    payment_method: Annotated[
        str, Field(min_length=3, max_length=255, pattern=r"^[A-Za-z0-9_]+$")
    ] = Field(description="a payment-method token from the provider, e.g. pm_card_visa")
    expected_total_minor: int | None = Field(
        default=None,
        ge=0,
        description="the total the shopper was shown; a different total is a 409 total-changed",
    )
    locale: str = Field(default="en_US", max_length=20, description="invoice and mail locale")

    @field_validator("locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        return check_locale(value)


class OrderLineOut(BaseModel):
    line_no: int
    variant_id: uuid.UUID
    product_id: uuid.UUID
    sku: str
    name: str
    quantity: int
    unit_price_minor: int
    discount_minor: int
    tax_rate_bp: int
    tax_minor: int
    total_minor: int
    returned_quantity: int = 0


class OrderOut(BaseModel):
    id: uuid.UUID
    number: str
    customer_id: uuid.UUID
    status: str
    currency: str
    subtotal_minor: int
    discount_minor: int
    shipping_minor: int
    tax_minor: int
    total_minor: int
    refunded_minor: int
    coupon_code: str | None
    shipping_method: str
    shipping_address: dict[str, Any]
    billing_address: dict[str, Any]
    failure_reason: str | None
    estimated_delivery: date | None
    version: int
    created_at: datetime
    updated_at: datetime
    lines: list[OrderLineOut]


class OrderStatusOut(BaseModel):
    id: uuid.UUID
    number: str
    status: str
    version: int
    failure_reason: str | None
    updated_at: datetime
    final: bool = Field(description="true once the status can no longer change by itself")


def order_out(row: dict[str, Any], lines: list[Any]) -> OrderOut:
    """`lines`: order_lines rows (mappings) or quoted lines (objects) in line order."""
    out_lines = []
    for n, line in enumerate(lines, start=1):
        get = line.get if isinstance(line, dict) else lambda k, _l=line: getattr(_l, k, None)
        out_lines.append(
            OrderLineOut(
                line_no=get("line_no") or n,
                variant_id=get("variant_id"),
                product_id=get("product_id"),
                sku=get("sku"),
                name=get("name"),
                quantity=get("quantity"),
                unit_price_minor=get("unit_price_minor"),
                discount_minor=get("discount_minor") or 0,
                tax_rate_bp=get("tax_rate_bp") or 0,
                tax_minor=get("tax_minor") or 0,
                total_minor=get("total_minor"),
                returned_quantity=get("returned_quantity") or 0,
            )
        )
    fields = {k: row[k] for k in OrderOut.model_fields if k != "lines"}
    return OrderOut(**fields, lines=out_lines)
