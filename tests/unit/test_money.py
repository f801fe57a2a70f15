"""kommerce.money: integer minor units, ISO 4217 exponents from CLDR, no float anywhere."""

from decimal import Decimal

import pytest
from pydantic import ValidationError

from kommerce.money import Money, UnknownCurrency, exponent, round_minor

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("currency", "digits"), [("EUR", 2), ("JPY", 0), ("KWD", 3), ("USD", 2)])
def test_exponents_come_from_cldr(currency: str, digits: int) -> None:
    assert exponent(currency) == digits


@pytest.mark.parametrize(
    ("major", "currency", "minor"),
    [("19.99", "EUR", 1999), ("1000", "JPY", 1000), ("1.234", "KWD", 1234), ("0.1", "EUR", 10)],
)
def test_major_units_round_trip_exactly(major: str, currency: str, minor: int) -> None:
    money = Money.of(major, currency)
    assert money.amount == minor
    assert money.decimal() == Decimal(major)


def test_more_digits_than_the_currency_has_are_refused() -> None:
    with pytest.raises(ValueError, match="more than 0 decimal"):
        Money.of("1.5", "JPY")
    with pytest.raises(ValueError, match="more than 2 decimal"):
        Money.of("19.999", "EUR")


@pytest.mark.parametrize("amount", [19.99, "1999", True, None])
def test_amount_must_be_an_integer(amount: object) -> None:
    with pytest.raises(ValidationError):
        Money(amount=amount, currency="EUR")  # type: ignore[arg-type]


@pytest.mark.parametrize("currency", ["eur", "XYZ", "EURO", ""])
def test_currency_must_be_iso_4217(currency: str) -> None:
    with pytest.raises(ValidationError):
        Money(amount=1, currency=currency)


def test_lower_case_gets_a_hint() -> None:
    with pytest.raises(UnknownCurrency, match="did you mean 'EUR'"):
        exponent("eur")


def test_amounts_beyond_json_safe_integers_are_refused() -> None:
    with pytest.raises(ValidationError):
        Money(amount=2**53, currency="EUR")


def test_rounding_is_bankers() -> None:
    assert round_minor(Decimal("0.125"), "EUR") == 12
    assert round_minor(Decimal("0.135"), "EUR") == 14
    assert round_minor(Decimal("123.5"), "JPY") == 124


def test_locale_formatting() -> None:
    assert Money(amount=123456, currency="EUR").format("de_DE") == "1.234,56\xa0€"
    assert Money(amount=1234, currency="JPY").format("en_US") == "¥1,234"
