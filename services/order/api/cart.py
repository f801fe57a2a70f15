"""The shopper's cart: guests by an opaque cart token, signed-in shoppers by their user id.

Who owns the cart a request acts on: with `Authorization: Bearer <token>` (permission
`orders:own`) the user's cart; otherwise the guest cart named by the `X-Cart-Token` header.
The first change to a guest cart without a token creates one: it comes back in the body
(`token`) and the `X-Cart-Token` response header; the client sends it on every later request.
`POST /v1/cart/merge` moves a guest cart into the user's cart after sign-in.

Every response is the cart priced again now (`services.order.cart.pricing.quote`): catalog
prices, availability, coupon, and — when `country` / `shipping_method` are given — tax and
shipping. Amounts are integer minor units of the cart's `currency` (`*_minor` fields).
A price that changed since the shopper saw it is shown (`price_changed`, a `price-changed`
problem) and is only applied after `POST /v1/cart/accept-prices`.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from kommerce.http.errors import Conflict, NotFound, Problem
from kommerce.http.responses import problems
from services.order.cart import (
    Availability,
    Cart,
    CartLimit,
    CartStore,
    Merged,
    Quote,
    guest_owner,
    new_token,
    quote,
)
from services.order.cart.codes import TERRITORIES
from services.order.cart.model import TOKEN_PATTERN
from services.order.cart.pricing import normalize_code
from services.order.context import Ctx, Customer, OrderContext
from services.order.tables import CATALOG_VARIANTS

router = APIRouter(prefix="/v1/cart", tags=["cart"], responses=problems(400, 401, 403, 422))
TOKEN_HEADER = "X-Cart-Token"  # noqa: S105  # nosec B105: a header name
CODE_PATTERN = r"^[A-Za-z0-9_-]+$"
METHOD_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"


class UnknownVariant(Problem):
    status, slug, title = 422, "unknown-variant", "No such item in the catalog"


class NotSellable(Problem):
    status, slug, title = 422, "not-sellable", "The item cannot be bought"


class LimitReached(Problem):
    status, title = 422, "A cart limit is reached"


class NotInCart(NotFound):
    slug, title = "not-in-cart", "The item is not in the cart"


class CouponInvalid(Problem):
    status, slug, title = 422, "coupon-invalid", "The coupon cannot be used"


class CartEmpty(Conflict):
    slug, title = "cart-empty", "The cart is empty"


class PriceChanged(Conflict):
    slug, title = "price-changed", "The price changed again"


class TokenRequired(Problem):
    status, slug, title = 422, "cart-token-required", "A guest cart token is needed"


class UnknownCountry(Problem):
    status, slug, title = 422, "unknown-country", "Not an ISO 3166-1 alpha-2 country code"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LineIn(Strict):
    variant_id: uuid.UUID
    quantity: int = Field(ge=1, le=10_000, description="added to what the cart holds already")


class QuantityIn(Strict):
    quantity: int = Field(ge=0, le=10_000, description="the line's new quantity; 0 removes it")


class CouponIn(Strict):
    code: str = Field(min_length=1, max_length=64, pattern=CODE_PATTERN)


class AcceptedPrice(Strict):
    variant_id: uuid.UUID
    unit_price_minor: int = Field(ge=0, description="the new price the shopper was shown")


class AcceptIn(Strict):
    lines: list[AcceptedPrice] | None = Field(
        default=None,
        max_length=1000,
        description="the prices being accepted; when a price moved again since, a 409 "
        "price-changed (nothing accepted). Omitted: accept every current price.",
    )


class MergeIn(Strict):
    token: str | None = Field(
        default=None,
        pattern=TOKEN_PATTERN,
        description="the guest cart token (or send it in X-Cart-Token)",
    )


class LineOut(BaseModel):
    variant_id: uuid.UUID
    product_id: uuid.UUID | None
    sku: str | None
    name: str | None
    quantity: int
    unit_price_minor: int = Field(description="today's price (what checkout charges)")
    seen_price_minor: int = Field(description="the price the shopper saw or last accepted")
    price_changed: bool
    available: int | None = Field(description="available to sell; null when unknown")
    problems: list[str]
    discount_minor: int
    tax_rate_bp: int = Field(description="basis points: 1900 = 19 %")
    tax_minor: int
    total_minor: int = Field(description="quantity x unit - discount + tax")


class ShippingOut(BaseModel):
    code: str
    name: str
    price_minor: int
    min_days: int
    max_days: int
    earliest_delivery: date
    latest_delivery: date


class CartOut(BaseModel):
    owner: Literal["guest", "user"]
    token: str | None = Field(description="the guest cart token to send as X-Cart-Token")
    currency: str | None = Field(description="ISO 4217; null while the cart is empty")
    lines: list[LineOut]
    coupon: str | None = Field(description="the coupon code on the cart")
    coupon_applied: bool
    subtotal_minor: int
    discount_minor: int
    tax_minor: int
    shipping_minor: int
    total_minor: int = Field(description="subtotal - discount + tax + shipping")
    shipping: ShippingOut | None
    problems: list[dict[str, Any]] = Field(
        description="each {code, blocking, ...}: price-changed, unavailable, insufficient-stock, "
        "not-sellable, unknown-variant, currency-mismatch, coupon-invalid, "
        "shipping-unavailable, availability-unknown (not blocking), cart-empty"
    )
    ready: bool = Field(description="no blocking problem: checkout may proceed")
    expires_in_seconds: int | None


class MergedOut(BaseModel):
    added: int
    combined: int
    clamped: int
    dropped: int


class MergeOut(CartOut):
    merged: MergedOut


@dataclass
class Shopper:
    """Whose cart a request acts on: a user's, or a guest's by token (None: none yet)."""

    user_id: str | None
    token: str | None

    @property
    def owner(self) -> str | None:
        if self.user_id is not None:
            return self.user_id
        return guest_owner(self.token) if self.token else None

    def owner_for_write(self, response: Response) -> str:
        if self.user_id is None and self.token is None:
            self.token = new_token()
        if self.token is not None and self.user_id is None:
            response.headers[TOKEN_HEADER] = self.token
        owner = self.owner
        assert owner is not None
        return owner


CartToken = Annotated[
    str | None,
    Header(
        alias=TOKEN_HEADER,
        pattern=TOKEN_PATTERN,
        description="the guest cart token (ignored when the request is authenticated)",
    ),
]


async def shopper(request: Request, c: Ctx, x_cart_token: CartToken = None) -> Shopper:
    """A bearer token makes it the user's cart (and must be valid); otherwise a guest cart."""
    principal = await c.auth.optional("orders:own")(request)
    if principal is not None:
        return Shopper(user_id=principal.user_id, token=None)
    return Shopper(user_id=None, token=x_cart_token)


Who = Annotated[Shopper, Depends(shopper)]


def store(c: OrderContext) -> CartStore:
    return c.carts


def availability(c: OrderContext) -> Availability:
    return c.availability


def _country(country: str | None) -> str | None:
    if country is not None and country not in TERRITORIES:
        raise UnknownCountry(f"{country!r} is not an ISO 3166-1 alpha-2 country code (e.g. DE)")
    return country


Country = Annotated[
    str | None,
    Query(pattern=r"^[A-Z]{2}$", description="destination (ISO 3166-1 alpha-2): tax and shipping"),
]
Method = Annotated[
    str | None,
    Query(
        min_length=1, max_length=64, pattern=METHOD_PATTERN, description="a shipping method code"
    ),
]


async def _quote(
    c: OrderContext, cart: Cart, *, coupon: str | None, country: str | None, method: str | None
) -> Quote:
    async with c.db.session() as session:
        return await quote(
            session,
            cart,
            availability=availability(c),
            coupon=coupon,
            shipping_method=method,
            country=country,
        )


def _out(c: OrderContext, who: Shopper, cart: Cart, q: Quote, exists: bool) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    shipping = None
    if q.shipping is not None:
        s = q.shipping
        shipping = ShippingOut(
            code=s.code,
            name=s.name,
            price_minor=s.price_minor,
            min_days=s.min_days,
            max_days=s.max_days,
            earliest_delivery=today + timedelta(days=s.min_days),
            latest_delivery=today + timedelta(days=s.max_days),
        )
    return CartOut(
        owner="user" if who.user_id is not None else "guest",
        token=who.token if who.user_id is None else None,
        currency=q.currency,
        lines=[LineOut(**vars(x)) for x in q.lines],
        coupon=cart.coupon,
        coupon_applied=q.coupon is not None,
        subtotal_minor=q.subtotal_minor,
        discount_minor=q.discount_minor,
        tax_minor=q.tax_minor,
        shipping_minor=q.shipping_minor,
        total_minor=q.total_minor,
        shipping=shipping,
        problems=q.problems,
        ready=q.ready,
        expires_in_seconds=c.settings.cart_ttl_seconds if exists else None,
    ).model_dump()


async def _cart(
    c: OrderContext,
    who: Shopper,
    response: Response,
    *,
    country: str | None = None,
    method: str | None = None,
) -> dict[str, Any]:
    owner = who.owner
    loaded = await store(c).load(owner) if owner is not None else None
    cart = loaded or Cart(owner=owner or "")
    q = await _quote(c, cart, coupon=cart.coupon, country=_country(country), method=method)
    if who.token is not None and who.user_id is None:
        response.headers[TOKEN_HEADER] = who.token
    return _out(c, who, cart, q, exists=loaded is not None)


async def _variant(c: OrderContext, variant_id: uuid.UUID) -> dict[str, Any]:
    async with c.db.session() as session:
        row = (
            (
                await session.execute(
                    select(CATALOG_VARIANTS).where(CATALOG_VARIANTS.c.variant_id == variant_id)
                )
            )
            .mappings()
            .first()
        )
    if row is None:
        raise UnknownVariant(f"variant {variant_id} is not in the catalog", variant_id=variant_id)
    if not row["sellable"]:
        raise NotSellable(f"{row['name'] or variant_id} is not for sale", variant_id=variant_id)
    return dict(row)


async def _change(
    c: OrderContext, who: Shopper, response: Response, variant_id: uuid.UUID, qty: int, add: bool
) -> None:
    if not add and qty == 0:
        owner = who.owner_for_write(response)
        await store(c).change(
            owner, variant_id, 0, price_minor=0, currency="XXX", now_ms=0, add=False
        )
        return
    row = await _variant(c, variant_id)
    owner = who.owner_for_write(response)
    try:
        await store(c).change(
            owner,
            variant_id,
            qty,
            price_minor=int(row["price_minor"]),
            currency=row["currency"],
            now_ms=time.time_ns() // 1_000_000,
            add=add,
        )
    except CartLimit as exc:
        problem = LimitReached(exc.detail, **exc.extra)
        problem.slug = exc.code
        raise problem from exc


@router.get("", response_model=CartOut)
async def get_cart(
    c: Ctx, who: Who, response: Response, country: Country = None, shipping_method: Method = None
) -> dict[str, Any]:
    """The cart priced and checked now (every read moves its expiry forward). With `country`
    (and `shipping_method`): tax and shipping too."""
    return await _cart(c, who, response, country=country, method=shipping_method)


@router.post("/lines", response_model=CartOut, responses=problems(404))
async def add_line(body: LineIn, c: Ctx, who: Who, response: Response) -> dict[str, Any]:
    """Add an item (its quantity is added to a line already there). A variant the catalog does
    not know is a 422 unknown-variant; limits: `cart_max_lines`, `cart_max_quantity`."""
    await _change(c, who, response, body.variant_id, body.quantity, add=True)
    return await _cart(c, who, response)


@router.put("/lines/{variant_id}", response_model=CartOut)
async def set_line(
    variant_id: uuid.UUID, body: QuantityIn, c: Ctx, who: Who, response: Response
) -> dict[str, Any]:
    """Set a line's quantity (adds the line if missing; 0 removes it)."""
    await _change(c, who, response, variant_id, body.quantity, add=False)
    return await _cart(c, who, response)


@router.delete("/lines/{variant_id}", response_model=CartOut, responses=problems(404))
async def remove_line(
    variant_id: uuid.UUID, c: Ctx, who: Who, response: Response
) -> dict[str, Any]:
    owner = who.owner
    if owner is None or not await store(c).remove(owner, variant_id):
        raise NotInCart(f"variant {variant_id} is not in the cart", variant_id=variant_id)
    return await _cart(c, who, response)


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
async def clear_cart(c: Ctx, who: Who) -> Response:
    """Empty the cart (lines and coupon)."""
    if who.owner is not None:
        await store(c).clear(who.owner)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/coupon", response_model=CartOut, responses=problems(409))
async def apply_coupon(body: CouponIn, c: Ctx, who: Who, response: Response) -> dict[str, Any]:
    """Put a coupon on the cart; one that does not apply now is a 422 coupon-invalid with the
    `reason` (unknown, inactive, not-started, expired, exhausted, currency, min-subtotal)."""
    code = normalize_code(body.code)
    owner = who.owner
    cart = await store(c).load(owner) if owner is not None else None
    if cart is None or not cart.lines:
        raise CartEmpty("add items to the cart before a coupon")
    q = await _quote(c, cart, coupon=code, country=None, method=None)
    found = next((p for p in q.problems if p["code"] == "coupon-invalid"), None)
    if found is not None:
        raise CouponInvalid(found["detail"], coupon=code, reason=found["reason"])
    await store(c).set_coupon(cart.owner, code)
    return await _cart(c, who, response)


@router.delete("/coupon", response_model=CartOut)
async def remove_coupon(c: Ctx, who: Who, response: Response) -> dict[str, Any]:
    if who.owner is not None and await store(c).load(who.owner) is not None:
        await store(c).set_coupon(who.owner, None)
    return await _cart(c, who, response)


@router.post("/accept-prices", response_model=CartOut, responses=problems(409))
async def accept_prices(
    c: Ctx, who: Who, response: Response, body: AcceptIn | None = None
) -> dict[str, Any]:
    """The shopper accepts today's prices: they become the seen prices. Send the prices shown
    (`lines`) so a price that moved again meanwhile is refused (409) rather than accepted."""
    owner = who.owner
    cart = await store(c).load(owner) if owner is not None else None
    if cart is None or owner is None:
        raise CartEmpty("the cart is empty")
    q = await _quote(c, cart, coupon=None, country=None, method=None)
    current = {
        x.variant_id: x.unit_price_minor
        for x in q.lines
        if x.product_id is not None and "currency-mismatch" not in x.problems
    }
    if body is not None and body.lines is not None:
        moved = [
            {
                "variant_id": a.variant_id,
                "now": current[a.variant_id],
                "accepted": a.unit_price_minor,
            }
            for a in body.lines
            if a.variant_id in current and current[a.variant_id] != a.unit_price_minor
        ]
        if moved:
            raise PriceChanged(
                "a price changed again since it was shown; show the cart again",
                lines=moved,
            )
        wanted = {a.variant_id for a in body.lines}
        current = {k: v for k, v in current.items() if k in wanted}
    if current and q.currency is not None:
        currency = q.currency
        await store(c).accept_prices(owner, {k: (v, currency) for k, v in current.items()})
    return await _cart(c, who, response)


@router.post("/merge", response_model=MergeOut)
async def merge(
    principal: Customer,
    c: Ctx,
    response: Response,
    body: MergeIn | None = None,
    x_cart_token: CartToken = None,
) -> dict[str, Any]:
    """After sign-in: move the guest cart (token in the body or X-Cart-Token) into the
    user's cart. Quantities of the same item are summed (cut to the limit), lines beyond the
    line limit are dropped, the user's coupon wins; the guest cart is deleted. Repeating it
    changes nothing."""
    token = (body.token if body is not None else None) or x_cart_token
    if token is None:
        raise TokenRequired(f"send the guest cart token (body `token` or {TOKEN_HEADER})")
    merged: Merged = await store(c).merge(guest_owner(token), principal.user_id)
    out = await _cart(c, Shopper(user_id=principal.user_id, token=None), response)
    return {**out, "merged": vars(merged)}
