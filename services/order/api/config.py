"""Reference data staff keep for carts and checkout: coupons, shipping methods, tax rates.

Writes need `orders:configure`; `PUT` creates or replaces (upsert). Shipping methods and tax
rates are public to read (a storefront lists delivery options and shows tax); coupons are not
(their codes are the secret). Amounts are integer minor units of the given currency.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError

from kommerce.http.errors import Conflict, NotFound, Problem
from kommerce.http.responses import problems
from kommerce.money import MAX_AMOUNT, Currency, check_currency
from services.order.cart.codes import country_code
from services.order.context import Configurer, Ctx
from services.order.tables import COUPONS, SHIPPING_METHODS, TAX_RATES

router = APIRouter(tags=["order configuration"], responses=problems(400, 422))
STAFF = problems(401, 403)
NO_NUL = r"^[^\x00]*$"
CodePath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
MethodPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
CurrencyPath = Annotated[str, Path(pattern=r"^[A-Z]{3}$", description="ISO 4217")]
CountryPath = Annotated[str, Path(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=NO_NUL)]
Minor = Annotated[int, Field(ge=0, le=MAX_AMOUNT)]
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)


class InUse(Conflict):
    slug, title = "in-use", "The change conflicts with what is recorded"


class UnknownCode(Problem):
    status, slug, title = 422, "unknown-code", "Not a known currency or country code"


_country = country_code


def _currency(value: str) -> str:
    try:
        return check_currency(value)
    except ValueError as exc:
        raise UnknownCode(str(exc)) from exc


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CouponIn(Strict):
    kind: Literal["percent", "fixed"]
    value: int = Field(
        ge=1, le=MAX_AMOUNT, description="percent: basis points (1000 = 10 %); fixed: minor units"
    )
    currency: Currency | None = Field(
        default=None, description="required for fixed coupons and a minimum subtotal"
    )
    min_subtotal_minor: Minor = 0
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    max_redemptions: int | None = Field(default=None, ge=1, le=2_000_000_000)
    active: bool = True

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _sane(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        try:
            utc = value.astimezone(UTC)
        except (OverflowError, ValueError) as exc:
            raise ValueError("not a representable time") from exc
        if not EARLIEST <= utc < LATEST:
            raise ValueError("must be between 1970 and 9998")
        return utc

    @model_validator(mode="after")
    def _consistent(self) -> CouponIn:
        if self.kind == "percent" and self.value > 10_000:
            raise ValueError("a percent coupon's value is basis points, at most 10000 (100 %)")
        if self.kind == "fixed" and self.currency is None:
            raise ValueError("a fixed coupon needs the currency of its value")
        if self.min_subtotal_minor > 0 and self.currency is None:
            raise ValueError("a minimum subtotal needs a currency")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class CouponOut(BaseModel):
    code: str
    kind: str
    value: int
    currency: str | None
    min_subtotal_minor: int
    starts_at: datetime | None
    ends_at: datetime | None
    max_redemptions: int | None
    redeemed: int
    active: bool
    created_at: datetime


class ShippingIn(Strict):
    name: Name
    price_minor: Minor
    countries: list[str] = Field(
        default_factory=list, max_length=300, description="ISO 3166-1 alpha-2; empty: everywhere"
    )
    min_days: int = Field(ge=0, le=365)
    max_days: int = Field(ge=0, le=365)
    active: bool = True

    @field_validator("countries")
    @classmethod
    def _countries(cls, value: list[str]) -> list[str]:
        return sorted({_country(c) for c in value})

    @model_validator(mode="after")
    def _days(self) -> ShippingIn:
        if self.max_days < self.min_days:
            raise ValueError("max_days must be at least min_days")
        return self


class ShippingOut(BaseModel):
    code: str
    currency: str
    name: str
    price_minor: int
    countries: list[str]
    min_days: int
    max_days: int
    active: bool


class TaxIn(Strict):
    name: Name = Field(examples=["VAT"])
    rate_bp: int = Field(ge=0, le=10_000, description="basis points: 1900 = 19 %")


class TaxOut(BaseModel):
    country: str
    name: str
    rate_bp: int


def _known_country(country: str) -> str:
    try:
        return _country(country)
    except ValueError as exc:
        raise UnknownCode(str(exc)) from exc


# --- coupons (staff only) -----------------------------------------------------------------


@router.get("/v1/coupons", response_model=list[CouponOut], responses=STAFF)
async def list_coupons(
    _: Configurer, c: Ctx, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[dict[str, Any]]:
    async with c.db.session() as s:
        rows = await s.execute(select(COUPONS).order_by(COUPONS.c.code).limit(limit))
        return [dict(r) for r in rows.mappings()]


@router.get("/v1/coupons/{code}", response_model=CouponOut, responses=problems(401, 403, 404))
async def get_coupon(code: CodePath, _: Configurer, c: Ctx) -> dict[str, Any]:
    async with c.db.session() as s:
        row = (
            (await s.execute(select(COUPONS).where(COUPONS.c.code == code.upper())))
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound(f"there is no coupon {code.upper()}")
    return dict(row)


@router.put("/v1/coupons/{code}", response_model=CouponOut, responses=problems(401, 403, 409))
async def put_coupon(code: CodePath, body: CouponIn, _: Configurer, c: Ctx) -> dict[str, Any]:
    """Create or replace a coupon (codes are case-insensitive, kept upper-case); how often it
    was redeemed is kept, and `max_redemptions` below that is a 409."""
    values = body.model_dump()
    stmt = pg_insert(COUPONS).values(code=code.upper(), **values)
    try:
        async with c.db.session() as s:
            row = (
                (
                    await s.execute(
                        stmt.on_conflict_do_update(
                            index_elements=[COUPONS.c.code], set_=values
                        ).returning(*COUPONS.c)
                    )
                )
                .mappings()
                .one()
            )
    except IntegrityError as exc:
        raise InUse(
            "max_redemptions is below the redemptions already made", coupon=code.upper()
        ) from exc
    return dict(row)


@router.delete(
    "/v1/coupons/{code}", status_code=status.HTTP_204_NO_CONTENT, responses=problems(401, 403, 404)
)
async def delete_coupon(code: CodePath, _: Configurer, c: Ctx) -> Response:
    async with c.db.session() as s:
        gone = await s.execute(
            delete(COUPONS).where(COUPONS.c.code == code.upper()).returning(COUPONS.c.code)
        )
        if gone.first() is None:
            raise NotFound(f"there is no coupon {code.upper()}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- shipping methods (public reads) --------------------------------------------------------


@router.get("/v1/shipping-methods", response_model=list[ShippingOut])
async def list_shipping(
    c: Ctx,
    currency: Annotated[str | None, Query(pattern=r"^[A-Z]{3}$")] = None,
    country: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$")] = None,
    include_inactive: bool = False,
) -> list[dict[str, Any]]:
    """Shipping methods, optionally those for a cart currency and a destination country."""
    q = select(SHIPPING_METHODS).order_by(SHIPPING_METHODS.c.code, SHIPPING_METHODS.c.currency)
    if currency is not None:
        q = q.where(SHIPPING_METHODS.c.currency == currency)
    if not include_inactive:
        q = q.where(SHIPPING_METHODS.c.active.is_(True))
    async with c.db.session() as s:
        rows = [dict(r) for r in (await s.execute(q)).mappings()]
    if country is not None:
        rows = [r for r in rows if not r["countries"] or country in r["countries"]]
    return rows


@router.get(
    "/v1/shipping-methods/{code}/{currency}", response_model=ShippingOut, responses=problems(404)
)
async def get_shipping(code: MethodPath, currency: CurrencyPath, c: Ctx) -> dict[str, Any]:
    async with c.db.session() as s:
        row = (
            (
                await s.execute(
                    select(SHIPPING_METHODS).where(
                        SHIPPING_METHODS.c.code == code, SHIPPING_METHODS.c.currency == currency
                    )
                )
            )
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound(f"there is no shipping method {code} in {currency}")
    return dict(row)


@router.put("/v1/shipping-methods/{code}/{currency}", response_model=ShippingOut, responses=STAFF)
async def put_shipping(
    code: MethodPath, currency: CurrencyPath, body: ShippingIn, _: Configurer, c: Ctx
) -> dict[str, Any]:
    """Create or replace the method `code` for carts in `currency` (price in its minor units)."""
    _currency(currency)
    values = body.model_dump()
    stmt = pg_insert(SHIPPING_METHODS).values(code=code, currency=currency, **values)
    async with c.db.session() as s:
        row = (
            (
                await s.execute(
                    stmt.on_conflict_do_update(
                        index_elements=[SHIPPING_METHODS.c.code, SHIPPING_METHODS.c.currency],
                        set_=values,
                    ).returning(*SHIPPING_METHODS.c)
                )
            )
            .mappings()
            .one()
        )
    return dict(row)


@router.delete(
    "/v1/shipping-methods/{code}/{currency}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(401, 403, 404),
)
async def delete_shipping(
    code: MethodPath, currency: CurrencyPath, _: Configurer, c: Ctx
) -> Response:
    async with c.db.session() as s:
        gone = await s.execute(
            delete(SHIPPING_METHODS)
            .where(SHIPPING_METHODS.c.code == code, SHIPPING_METHODS.c.currency == currency)
            .returning(SHIPPING_METHODS.c.code)
        )
        if gone.first() is None:
            raise NotFound(f"there is no shipping method {code} in {currency}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- tax rates (public reads) ---------------------------------------------------------------


@router.get("/v1/tax-rates", response_model=list[TaxOut])
async def list_tax_rates(c: Ctx) -> list[dict[str, Any]]:
    async with c.db.session() as s:
        return [
            dict(r)
            for r in (await s.execute(select(TAX_RATES).order_by(TAX_RATES.c.country))).mappings()
        ]


@router.get("/v1/tax-rates/{country}", response_model=TaxOut, responses=problems(404))
async def get_tax_rate(country: CountryPath, c: Ctx) -> dict[str, Any]:
    async with c.db.session() as s:
        row = (
            (await s.execute(select(TAX_RATES).where(TAX_RATES.c.country == country)))
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound(f"there is no tax rate for {country}")
    return dict(row)


@router.put("/v1/tax-rates/{country}", response_model=TaxOut, responses=STAFF)
async def put_tax_rate(country: CountryPath, body: TaxIn, _: Configurer, c: Ctx) -> dict[str, Any]:
    """Create or replace the tax rate of a destination country."""
    _known_country(country)
    values = body.model_dump()
    stmt = pg_insert(TAX_RATES).values(country=country, **values)
    async with c.db.session() as s:
        row = (
            (
                await s.execute(
                    stmt.on_conflict_do_update(
                        index_elements=[TAX_RATES.c.country], set_=values
                    ).returning(*TAX_RATES.c)
                )
            )
            .mappings()
            .one()
        )
    return dict(row)


@router.delete(
    "/v1/tax-rates/{country}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(401, 403, 404),
)
async def delete_tax_rate(country: CountryPath, _: Configurer, c: Ctx) -> Response:
    async with c.db.session() as s:
        gone = await s.execute(
            delete(TAX_RATES).where(TAX_RATES.c.country == country).returning(TAX_RATES.c.country)
        )
        if gone.first() is None:
            raise NotFound(f"there is no tax rate for {country}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
