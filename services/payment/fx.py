"""Presentment → settlement conversion with the FX-rate table.

The shopper pays in the presentment currency (the order's); the merchant settles in
`settlement_currency`. A payment records both amounts and the rate used, fixed when the payment
is created, so later refunds convert at the same rate as the charge. Rates are units of the
quote currency per unit of the base currency in major units (EUR→JPY 162.5); the settlement
amount is computed in Decimal and rounded half to even to the settlement currency's exponent
(`kommerce.money.convert`). Only direct pairs are used (no triangulation), so a missing pair is
an explicit `fx-rate-missing` refusal, never a guess.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.http.errors import Conflict, Problem
from kommerce.money import Money, UnknownCurrency, check_currency, convert
from services.payment.tables import FX_RATES


class UnknownCurrencyCode(Problem):
    status, slug, title = 422, "unknown-currency", "Not an ISO 4217 currency"


class FxRateMissing(Conflict):
    slug = "fx-rate-missing"
    title = "No FX rate for this currency pair"


async def settle(
    session: AsyncSession, amount: Money, settlement_currency: str
) -> tuple[int, Decimal]:
    """The settlement amount (minor units) and the rate used."""
    if amount.currency == settlement_currency:
        return amount.amount, Decimal(1)
    rate = (
        await session.execute(
            select(FX_RATES.c.rate).where(
                FX_RATES.c.base == amount.currency, FX_RATES.c.quote == settlement_currency
            )
        )
    ).scalar_one_or_none()
    if rate is None:
        raise FxRateMissing(
            f"no FX rate {amount.currency}→{settlement_currency}; set one with "
            f"PUT /v1/fx-rates/{amount.currency}/{settlement_currency}"
        )
    return convert(amount, Decimal(rate), settlement_currency).amount, Decimal(rate)


async def set_rate(session: AsyncSession, base: str, quote: str, rate: Decimal) -> None:
    try:
        base, quote = check_currency(base), check_currency(quote)
    except UnknownCurrency as exc:
        raise UnknownCurrencyCode(str(exc)) from exc
    stmt = pg_insert(FX_RATES).values(base=base, quote=quote, rate=rate)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["base", "quote"], set_={"rate": rate, "updated_at": func.now()}
        )
    )
