"""kommerce.money: the active currency table from CLDR and presentment → settlement conversion."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from kommerce.money import Money, convert, currencies, exponent, known_codes

pytestmark = pytest.mark.unit


def test_every_active_currency_has_a_sane_exponent() -> None:
    table = currencies()
    assert len(table) > 140
    assert set(table.values()) <= {0, 2, 3, 4}
    assert all(exponent(code) == digits for code, digits in table.items())
    assert set(table) <= known_codes()


@pytest.mark.parametrize(
    ("code", "digits"),
    [
        ("EUR", 2),
        ("USD", 2),
        ("JPY", 0),
        ("KRW", 0),
        ("CLP", 0),
        ("ISK", 0),
        ("XOF", 0),
        ("KWD", 3),
        ("BHD", 3),
        ("JOD", 3),
        ("OMR", 3),
        ("TND", 3),
        ("LYD", 3),
        # CLDR's exponent, not ISO 4217's (which says 2; IQD 3): see docs/core-library.md
        ("HUF", 0),
        ("IDR", 0),
        ("COP", 0),
        ("IQD", 0),
    ],
)
def test_known_exponents_as_babel_has_them(code: str, digits: int) -> None:
    assert currencies()[code] == digits


@pytest.mark.parametrize(
    "code", ["DEM", "HRK", "SLL", "CLF", "UYI", "UYW", "XAU", "XDR", "XTS", "XXX", "CNH"]
)
def test_historic_funds_metals_and_test_codes_are_not_active(code: str) -> None:
    assert code not in currencies()


def test_the_table_is_a_copy() -> None:
    currencies()["EUR"] = 9
    assert currencies()["EUR"] == 2


@pytest.mark.parametrize(
    ("amount", "currency", "rate", "to", "expected"),
    [
        # 1000 JPY at 0.0061234 EUR/JPY = 6.1234 EUR → 6.12
        (1000, "JPY", "0.0061234", "EUR", 612),
        # 1250 JPY * 0.0061 = 7.625 EUR: a tie, half to even → 7.62
        (1250, "JPY", "0.0061", "EUR", 762),
        (1350, "JPY", "0.0061", "EUR", 824),  # 8.235 → 8.24 (the even neighbour)
        # 19.99 EUR * 0.3345 = 6.686655 KWD → 6.687
        (1999, "EUR", "0.3345", "KWD", 6687),
        (1000, "EUR", "0.33365", "KWD", 3336),  # 3.3365 → 3.336 (tie, even)
        (1000, "EUR", "0.33375", "KWD", 3338),  # 3.3375 → 3.338 (tie, even)
        # 1.234 KWD * 498.7 = 615.3958 JPY → 615
        (1234, "KWD", "498.7", "JPY", 615),
        (5, "KWD", "500", "JPY", 2),  # 0.005 * 500 = 2.5 → 2
        (7, "KWD", "500", "JPY", 4),  # 3.5 → 4
        (-1999, "EUR", "0.3345", "KWD", -6687),  # refunds convert symmetrically
        (0, "EUR", "161.5", "JPY", 0),
    ],
)
def test_convert_rounds_once_half_to_even(
    amount: int, currency: str, rate: str, to: str, expected: int
) -> None:
    converted = convert(Money(amount=amount, currency=currency), Decimal(rate), to)
    assert converted == Money(amount=expected, currency=to)


def test_convert_does_not_round_in_between() -> None:
    # 40 significant digits of rate: the default 28-digit context would round the product
    # before round_minor and could turn a value just below a tie into the tie.
    rate = Decimal("0.0061" + "0" * 30 + "1")
    assert convert(Money(amount=1250, currency="JPY"), rate, "EUR").amount == 763


@pytest.mark.parametrize("rate", [Decimal(0), Decimal(-1), Decimal("NaN"), Decimal("Infinity")])
def test_convert_refuses_bad_rates(rate: Decimal) -> None:
    with pytest.raises(ValueError, match="exchange rate"):
        convert(Money(amount=1, currency="EUR"), rate, "JPY")


def test_convert_refuses_a_float_rate() -> None:
    with pytest.raises(ValueError, match="exchange rate"):
        convert(Money(amount=1, currency="EUR"), 0.5, "JPY")  # type: ignore[arg-type]


def test_convert_refuses_an_unknown_target() -> None:
    with pytest.raises(ValueError, match="ISO 4217"):
        convert(Money(amount=1, currency="EUR"), Decimal(1), "EURO")


def test_convert_beyond_the_json_safe_range_fails_validation() -> None:
    with pytest.raises(ValidationError):
        convert(Money(amount=9_000_000_000_000_000, currency="EUR"), Decimal(1000), "JPY")


@pytest.mark.parametrize(
    ("major", "currency", "minor"),
    [
        ("0", "JPY", 0),
        ("1", "JPY", 1),
        ("123456789", "JPY", 123456789),
        ("-500", "JPY", -500),
        ("9007199254740991", "JPY", 9007199254740991),
        ("0.001", "KWD", 1),
        ("1.234", "KWD", 1234),
        ("-0.5", "KWD", -500),
        ("9007199254740.991", "KWD", 9007199254740991),
        ("0.01", "EUR", 1),
        ("19.99", "EUR", 1999),
        ("-0.1", "EUR", -10),
        ("90071992547409.91", "EUR", 9007199254740991),
    ],
)
def test_major_minor_round_trips_are_exact(major: str, currency: str, minor: int) -> None:
    money = Money.of(major, currency)
    assert money.amount == minor
    assert money.decimal() == Decimal(major)
    assert Money.of(money.decimal(), currency) == money  # major → minor → major → minor
    assert Money.of(Money(amount=minor, currency=currency).decimal(), currency).amount == minor
