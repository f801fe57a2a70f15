"""Pricing and validating a cart: the one function the cart API and checkout both call.

    q = await quote(session, cart, availability=..., coupon=cart.coupon,
                    shipping_method="standard", country="DE")

Order of operations, all in integer minor units of the cart's currency:
  1. each line at today's catalog price (`catalog_variants`), compared with the price the
     shopper saw (`price-changed` until the shopper accepts it — a new price is shown, never
     silently applied), sellability and availability checked;
  2. subtotal = sum of quantity x unit price;
  3. discount (a `Discounts` implementation; coupons by default) on the subtotal, allocated
     across the lines in proportion to their amounts, the remainder unit by unit (largest
     remainder), so the line discounts add up to it exactly;
  4. tax per line on its net amount (amount - discount) at the destination country's rate,
     rounded half to even per line (`kommerce.money.basis_points`); no country yet or no rate
     for it: 0;
  5. shipping (the method for the cart's currency and the destination), not taxed;
  total = subtotal - discount + tax + shipping.

Problems (`Quote.problems`, each `{"code", "blocking", ...}`) say what stops checkout; `ready`
is true when none blocks. `availability-unknown` (inventory down) does not block: checkout's
stock reservation decides then.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.money import allocate, basis_points
from services.order.cart.availability import Availability, AvailabilityUnknown
from services.order.cart.model import Cart
from services.order.tables import CATALOG_VARIANTS, COUPONS, SHIPPING_METHODS, TAX_RATES

# What does not stop checkout by itself.
NON_BLOCKING = frozenset({"availability-unknown"})


@dataclass(frozen=True)
class QuotedLine:
    variant_id: uuid.UUID
    product_id: uuid.UUID | None  # None: the variant is not in the catalog
    sku: str | None
    name: str | None
    quantity: int
    unit_price_minor: int  # today's catalog price (the seen price when there is none)
    seen_price_minor: int
    price_changed: bool
    available: int | None  # None: inventory could not say
    problems: list[str]  # the codes of this line's problems
    discount_minor: int
    tax_rate_bp: int
    tax_minor: int
    total_minor: int  # quantity x unit - discount + tax (0 for a line that cannot be priced)


@dataclass(frozen=True)
class ShippingQuote:
    code: str
    name: str
    price_minor: int
    min_days: int
    max_days: int


@dataclass(frozen=True)
class Quote:
    currency: str | None  # None only for an empty cart
    lines: list[QuotedLine]
    subtotal_minor: int
    discount_minor: int
    shipping_minor: int
    tax_minor: int
    total_minor: int
    coupon: str | None  # the coupon code applied (None: none, or it does not apply)
    shipping: ShippingQuote | None
    problems: list[dict[str, Any]] = field(default_factory=list)
    ready: bool = False


@dataclass(frozen=True)
class Discount:
    """A discount code's verdict for a cart: the amount off the subtotal, or why not."""

    code: str
    amount_minor: int = 0
    reason: str | None = None  # None: it applies
    detail: str = ""


class Discounts(Protocol):
    """Where discounts come from (coupons today; promotions could follow the same shape)."""

    async def evaluate(
        self,
        session: AsyncSession,
        code: str,
        *,
        currency: str,
        subtotal_minor: int,
        now: datetime,
    ) -> Discount: ...


def normalize_code(code: str) -> str:
    return code.strip().upper()


class Coupons:
    """Coupons from the `coupons` table: percent (basis points of the subtotal, rounded half
    to even) or fixed (minor units of the coupon's currency, at most the subtotal)."""

    async def evaluate(
        self,
        session: AsyncSession,
        code: str,
        *,
        currency: str,
        subtotal_minor: int,
        now: datetime,
    ) -> Discount:
        code = normalize_code(code)
        row = (
            (await session.execute(select(COUPONS).where(COUPONS.c.code == code)))
            .mappings()
            .first()
        )
        if row is None:
            return Discount(code, reason="unknown", detail=f"there is no coupon {code}")
        if not row["active"]:
            return Discount(code, reason="inactive", detail=f"coupon {code} is not active")
        if row["starts_at"] is not None and now < row["starts_at"]:
            return Discount(code, reason="not-started", detail=f"coupon {code} is not valid yet")
        if row["ends_at"] is not None and now >= row["ends_at"]:
            return Discount(code, reason="expired", detail=f"coupon {code} has expired")
        if row["max_redemptions"] is not None and row["redeemed"] >= row["max_redemptions"]:
            return Discount(code, reason="exhausted", detail=f"coupon {code} has been used up")
        if row["currency"] is not None and row["currency"] != currency:
            return Discount(
                code,
                reason="currency",
                detail=f"coupon {code} is for carts in {row['currency']}, not {currency}",
            )
        if subtotal_minor < row["min_subtotal_minor"]:
            return Discount(
                code,
                reason="min-subtotal",
                detail=f"coupon {code} needs a subtotal of at least "
                f"{row['min_subtotal_minor']} {currency} minor units",
            )
        if row["kind"] == "percent":
            amount = basis_points(subtotal_minor, int(row["value"]))
        else:
            amount = int(row["value"])
        return Discount(code, amount_minor=min(amount, subtotal_minor))


COUPONS_DISCOUNTS = Coupons()


@dataclass
class _Line:
    """A line being priced (mutable while quote works through the steps)."""

    variant_id: uuid.UUID
    quantity: int
    seen_price_minor: int
    seen_currency: str
    row: dict[str, Any] | None
    available: int | None = None
    problems: list[str] = field(default_factory=list)
    priced: bool = False  # counts in the totals
    discount_minor: int = 0
    tax_minor: int = 0

    @property
    def unit_price_minor(self) -> int:
        return int(self.row["price_minor"]) if self.row is not None else self.seen_price_minor

    @property
    def amount_minor(self) -> int:
        return self.unit_price_minor * self.quantity if self.priced else 0


def cart_currency(lines: Sequence[_Line]) -> str | None:
    """The currency of the cart: its first line's (catalog currency, else the one seen)."""
    for line in lines:
        return str(line.row["currency"]) if line.row is not None else line.seen_currency
    return None


async def quote(
    session: AsyncSession,
    cart: Cart,
    *,
    availability: Availability,
    coupon: str | None = None,
    shipping_method: str | None = None,
    country: str | None = None,
    discounts: Discounts = COUPONS_DISCOUNTS,
    now: datetime | None = None,
) -> Quote:
    """Price and validate `cart` now (see the module docstring for the rules)."""
    now = now or datetime.now(UTC)
    problems: list[dict[str, Any]] = []

    def problem(code: str, **extra: Any) -> None:
        problems.append({"code": code, "blocking": code not in NON_BLOCKING, **extra})

    ids = [x.variant_id for x in cart.lines]
    rows: dict[uuid.UUID, dict[str, Any]] = {}
    if ids:
        result = await session.execute(
            select(CATALOG_VARIANTS).where(CATALOG_VARIANTS.c.variant_id.in_(ids))
        )
        rows = {r["variant_id"]: dict(r) for r in result.mappings()}
    lines = [
        _Line(x.variant_id, x.quantity, x.seen_price_minor, x.seen_currency, rows.get(x.variant_id))
        for x in cart.lines
    ]
    if not lines:
        problem("cart-empty")
    currency = cart_currency(lines)

    stock: dict[uuid.UUID, int] | None = None
    try:
        stock = await availability.get_many(ids)
    except AvailabilityUnknown as exc:
        if ids:
            problem("availability-unknown", detail=str(exc))

    for line in lines:
        vid = str(line.variant_id)
        if stock is not None:
            line.available = stock.get(line.variant_id, 0)
        if line.row is None:
            line.problems.append("unknown-variant")
            problem("unknown-variant", variant_id=vid)
            continue
        if line.row["currency"] != currency:
            line.problems.append("currency-mismatch")
            problem("currency-mismatch", variant_id=vid, currency=line.row["currency"])
            continue
        line.priced = True
        if not line.row["sellable"]:
            line.problems.append("not-sellable")
            problem("not-sellable", variant_id=vid)
        if line.seen_price_minor != line.unit_price_minor or line.seen_currency != currency:
            line.problems.append("price-changed")
            problem(
                "price-changed",
                variant_id=vid,
                was=line.seen_price_minor,
                now=line.unit_price_minor,
                was_currency=line.seen_currency,
                currency=currency,
            )
        if line.available is not None and line.row["sellable"]:
            if line.available <= 0:
                line.problems.append("unavailable")
                problem("unavailable", variant_id=vid, available=0)
            elif line.available < line.quantity:
                line.problems.append("insufficient-stock")
                problem(
                    "insufficient-stock",
                    variant_id=vid,
                    available=line.available,
                    requested=line.quantity,
                )

    priced = [x for x in lines if x.priced]
    subtotal = sum(x.amount_minor for x in priced)

    applied: str | None = None
    discount = 0
    if coupon and currency is not None:
        verdict = await discounts.evaluate(
            session, coupon, currency=currency, subtotal_minor=subtotal, now=now
        )
        if verdict.reason is None:
            applied, discount = verdict.code, verdict.amount_minor
            for line, part in zip(
                priced, allocate(discount, [x.amount_minor for x in priced]), strict=True
            ):
                line.discount_minor = part
        else:
            problem(
                "coupon-invalid", coupon=verdict.code, reason=verdict.reason, detail=verdict.detail
            )

    rate_bp = 0
    if country is not None:
        rate = (
            await session.execute(select(TAX_RATES.c.rate_bp).where(TAX_RATES.c.country == country))
        ).scalar()
        rate_bp = int(rate or 0)
    for line in priced:
        line.tax_minor = basis_points(line.amount_minor - line.discount_minor, rate_bp)
    tax = sum(x.tax_minor for x in priced)

    shipping: ShippingQuote | None = None
    if shipping_method is not None and currency is not None:
        shipping = await _shipping(session, shipping_method, currency, country)
        if shipping is None:
            problem(
                "shipping-unavailable",
                shipping_method=shipping_method,
                currency=currency,
                country=country,
                detail=f"shipping method {shipping_method!r} is not offered for "
                f"{currency} carts" + (f" to {country}" if country else " (give a country)"),
            )
    shipping_minor = shipping.price_minor if shipping else 0

    quoted = [
        QuotedLine(
            variant_id=x.variant_id,
            product_id=x.row["product_id"] if x.row is not None else None,
            sku=x.row["sku"] if x.row is not None else None,
            name=x.row["name"] if x.row is not None else None,
            quantity=x.quantity,
            unit_price_minor=x.unit_price_minor,
            seen_price_minor=x.seen_price_minor,
            price_changed="price-changed" in x.problems,
            available=x.available,
            problems=list(x.problems),
            discount_minor=x.discount_minor,
            tax_rate_bp=rate_bp if x.priced else 0,
            tax_minor=x.tax_minor,
            total_minor=x.amount_minor - x.discount_minor + x.tax_minor if x.priced else 0,
        )
        for x in lines
    ]
    return Quote(
        currency=currency,
        lines=quoted,
        subtotal_minor=subtotal,
        discount_minor=discount,
        shipping_minor=shipping_minor,
        tax_minor=tax,
        total_minor=subtotal - discount + tax + shipping_minor,
        coupon=applied,
        shipping=shipping,
        problems=problems,
        ready=not any(p["blocking"] for p in problems),
    )


async def _shipping(
    session: AsyncSession, code: str, currency: str, country: str | None
) -> ShippingQuote | None:
    row = (
        (
            await session.execute(
                select(SHIPPING_METHODS).where(
                    SHIPPING_METHODS.c.code == code,
                    SHIPPING_METHODS.c.currency == currency,
                    SHIPPING_METHODS.c.active.is_(True),
                )
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    countries = list(row["countries"] or [])
    if countries and country not in countries:
        return None
    return ShippingQuote(
        code=row["code"],
        name=row["name"],
        price_minor=int(row["price_minor"]),
        min_days=int(row["min_days"]),
        max_days=int(row["max_days"]),
    )
