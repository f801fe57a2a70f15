"""Money: an integer amount of minor units and an ISO 4217 currency.

Never a float. The exponent of each currency (EUR 2, JPY 0, KWD 3) comes from the Unicode CLDR
data shipped with Babel, a maintained source, rather than a hand-kept table. Amounts cross every
API and event as integers of minor units (`{"amount": 1999, "currency": "EUR"}` is €19.99).
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from functools import cache
from typing import Annotated, Self

from babel.core import get_global
from babel.numbers import (
    format_currency,
    get_currency_precision,
    get_territory_currencies,
    list_currencies,
)
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt

# Beyond this an amount cannot round-trip through JSON numbers in every client (2^53 - 1).
MAX_AMOUNT = 9_007_199_254_740_991


class UnknownCurrency(ValueError):
    pass


@cache
def known_codes() -> frozenset[str]:
    """Every ISO 4217 code CLDR knows (active and historic): what `Money` accepts."""
    return frozenset(c for c in list_currencies() if len(c) == 3 and c.isalpha() and c.isupper())


@cache
def _active(today: date) -> dict[str, int]:
    codes: set[str] = set()
    for territory in get_global("territory_currencies"):
        codes.update(get_territory_currencies(territory, start_date=today, tender=True))
    return {code: exponent(code) for code in sorted(codes & known_codes())}


def currencies() -> dict[str, int]:
    """Every currency in use today with its minor-unit exponent: `{"EUR": 2, "JPY": 0, ...}`.

    "In use" is CLDR's: legal tender in at least one territory today. That leaves out historic
    codes (DEM, HRK, SLL), funds and units of account (CLF, UYI, UYW, BOV, CHE, CHW, COU, MXV,
    USN, VED), metals (XAU, XAG, XPD, XPT), XDR, XSU, XUA, the testing codes XTS and XXX, and
    CNH (offshore yuan, not ISO). Exponents are CLDR's, as `exponent` gives them."""
    return dict(_active(date.today()))


def check_currency(code: str) -> str:
    if code not in known_codes():
        hint = f"; did you mean {code.upper()!r}?" if code.upper() in known_codes() else ""
        raise UnknownCurrency(f"{code!r} is not an ISO 4217 currency code{hint}")
    return code


def exponent(currency: str) -> int:
    """Digits after the decimal point: EUR 2, JPY 0, KWD 3."""
    return int(get_currency_precision(check_currency(currency)))


Currency = Annotated[
    str,
    Field(min_length=3, max_length=3, examples=["EUR"], description="ISO 4217 code"),
    AfterValidator(check_currency),
]


class Money(BaseModel):
    """An amount in integer minor units of an ISO 4217 currency."""

    model_config = ConfigDict(frozen=True)

    amount: StrictInt = Field(
        ge=-MAX_AMOUNT, le=MAX_AMOUNT, description="integer minor units (cents for EUR)"
    )
    currency: Currency

    @classmethod
    def of(cls, value: Decimal | str | int, currency: str) -> Self:
        """From a major-unit decimal (`Money.of("19.99", "EUR")`); rejects sub-minor digits."""
        digits = exponent(currency)
        major = Decimal(value)
        minor = major.scaleb(digits)
        if minor != minor.to_integral_value():
            raise ValueError(
                f"{value} {currency} has more than {digits} decimal place(s) for {currency}"
            )
        return cls(amount=int(minor), currency=currency)

    def decimal(self) -> Decimal:
        return Decimal(self.amount).scaleb(-exponent(self.currency))

    def format(self, locale: str = "en") -> str:
        return str(format_currency(self.decimal(), self.currency, locale=locale))

    def __str__(self) -> str:
        return f"{self.decimal():f} {self.currency}"


def round_minor(value: Decimal, currency: str) -> int:
    """A computed major-unit value (e.g. after FX) to minor units, banker's rounding."""
    digits = exponent(currency)
    return int(value.scaleb(digits).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def convert(money: Money, rate: Decimal, to: str) -> Money:
    """`money` in currency `to` at `rate` (units of `to` per ONE major unit of money.currency).

    Computed on major units in Decimal and rounded half to even to `to`'s exponent once:
    `convert(Money.of("10.00", "EUR"), Decimal("0.33365"), "KWD") == Money.of("3.336", "KWD")`.
    The rate must be a positive Decimal (a float would carry its binary error into the amount).
    """
    if not isinstance(rate, Decimal) or not rate.is_finite() or rate <= 0:
        raise ValueError(f"an exchange rate is a positive, finite Decimal, not {rate!r}")
    check_currency(to)
    with localcontext() as exact:
        exact.prec = 200  # no intermediate rounding: the only rounding is round_minor's
        return Money(amount=round_minor(money.decimal() * rate, to), currency=to)


def _half_even_div(numerator: int, denominator: int) -> int:
    """numerator / denominator (denominator > 0) rounded half to even, in integers only."""
    q, r = divmod(numerator, denominator)
    twice = 2 * r
    if twice > denominator or (twice == denominator and q % 2 == 1):
        q += 1
    return q


def basis_points(amount_minor: int, rate_bp: int) -> int:
    """`rate_bp` basis points (1900 = 19 %) of an integer minor amount, rounded half to even.

    Exact integer arithmetic: `basis_points(1050, 1900) == 200` (199.5 → 200),
    `basis_points(250, 1000) == 25`, `basis_points(5, 1000) == 0` (0.5 → 0)."""
    return _half_even_div(amount_minor * rate_bp, 10_000)


def allocate(total: int, weights: list[int]) -> list[int]:
    """Split an integer `total` across `weights` in proportion, exactly (largest remainder).

    Each part is `floor(total * w / sum)`; the units left over go one each to the parts with
    the largest remainders (ties: the earlier part first), so the parts always add up to
    `total`. Weights must be >= 0; all-zero weights split nothing but refuse a non-zero total.
    """
    if total < 0 or any(w < 0 for w in weights):
        raise ValueError("allocate needs a total >= 0 and weights >= 0")
    whole = sum(weights)
    if whole == 0:
        if total:
            raise ValueError("cannot allocate a non-zero total over zero weights")
        return [0] * len(weights)
    parts: list[int] = []
    remainders: list[tuple[int, int]] = []
    for i, w in enumerate(weights):
        q, r = divmod(total * w, whole)
        parts.append(q)
        remainders.append((-r, i))
    for _, i in sorted(remainders)[: total - sum(parts)]:
        parts[i] += 1
    return parts
