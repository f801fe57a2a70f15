"""Invoice and credit note logic without a database: formatting per locale, tax grouping,
spreading a refund over lines, font fallbacks, and a PDF that reads back and renders the same
bytes twice."""

from __future__ import annotations

import io
import unicodedata
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from services.order.documents import render
from services.order.documents.issue import credited_lines

pytestmark = pytest.mark.unit

NBSP = "\u00a0"


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "text"),
    [
        (123_456, "EUR", "de_DE", f"1.234,56{NBSP}€"),
        (123_456, "EUR", "en_US", "€1,234.56"),
        (-1_234, "EUR", "de_DE", f"-12,34{NBSP}€"),
        (1_234, "JPY", "en_US", "¥1,234"),
        (1_234, "JPY", "ja_JP", "￥1,234"),  # CLDR's fullwidth yen
        (1_234_567, "KWD", "en_US", "KWD1,234.567"),
        (5, "KWD", "en_US", "KWD0.005"),
        (123_456, "EUR", "xx_YY", "€1,234.56"),  # unknown locale: en_US
        (123_456, "EUR", "de-DE", f"1.234,56{NBSP}€"),
    ],
)
def test_money_per_locale(amount: int, currency: str, locale: str, text: str) -> None:
    assert render.money(amount, currency, locale) == text


def test_rates_and_locales() -> None:
    assert render.rate(1900, "de_DE") == "19 %"
    assert render.rate(750, "de_DE") == "7,5 %"
    assert render.rate(750, "en_US") == "7.5 %"
    assert render.resolve_locale(None) == "en_US"
    assert render.resolve_locale("") == "en_US"
    assert render.resolve_locale("xx_YY") == "en_US"
    assert render.resolve_locale("fr-FR") == "fr_FR"


def line(rate_bp: int, net: int, tax: int, name: str = "x") -> render.Line:
    return render.Line(name, "SKU", 1, net, 0, rate_bp, tax, net + tax)


def test_tax_lines_are_grouped_by_rate() -> None:
    lines = [line(1900, 10_000, 1_900), line(700, 1_999, 140), line(1900, 500, 95)]
    assert render.tax_groups(lines) == [
        render.TaxGroup(700, 1_999, 140),
        render.TaxGroup(1900, 10_500, 1_995),
    ]
    extra = render.tax_groups(lines, extra_tax_minor=93)
    assert extra[-1] == render.TaxGroup(None, 0, 93)
    assert render.tax_groups([]) == []


def test_tax_in_a_gross_amount_rounds_half_even() -> None:
    assert render.tax_in_gross(11_900, 1900) == 1_900
    assert render.tax_in_gross(107, 700) == 7  # 7.0
    assert render.tax_in_gross(0, 1900) == 0
    assert render.tax_in_gross(1_000, 0) == 0
    # 2.5 and 3.5 round to the even neighbour
    assert render.tax_in_gross(105, 500) == 5  # exactly 5.0
    assert render.half_even(Decimal("2.5")) == 2
    assert render.half_even(Decimal("3.5")) == 4


@pytest.mark.parametrize(
    ("total", "weights", "parts"),
    [
        (10_000, [232_050, 2_139, 490], [9_888, 91, 21]),
        (100, [1, 1, 1], [34, 33, 33]),
        (7, [0, 0], [7, 0]),
        (0, [5, 5], [0, 0]),
        (5, [], []),
    ],
)
def test_allocate_adds_up(total: int, weights: list[int], parts: list[int]) -> None:
    assert render.allocate(total, weights) == parts
    assert sum(parts) == (total if weights else 0)


def order_line(n: int, qty: int, unit: int, rate_bp: int, tax: int) -> dict[str, Any]:
    return {
        "line_no": n,
        "name": f"item {n}",
        "sku": f"SKU-{n}",
        "quantity": qty,
        "unit_price_minor": unit,
        "discount_minor": 0,
        "tax_rate_bp": rate_bp,
        "tax_minor": tax,
        "total_minor": qty * unit + tax,
    }


def test_a_partial_refund_is_spread_over_lines_and_shipping() -> None:
    lines = [order_line(1, 2, 100_000, 1900, 38_000), order_line(2, 1, 1_000, 700, 70)]
    credited = credited_lines(lines, {}, 500, 2_000)
    assert [c.name for c in credited] == ["item 1", "item 2", "Shipping"]
    assert sum(c.total_minor for c in credited) == 2_000
    assert all(c.quantity == 0 for c in credited)  # nothing goes back
    first = credited[0]
    assert first.tax_minor == render.tax_in_gross(first.total_minor, 1900)


def test_a_return_credits_the_returned_quantities() -> None:
    lines = [order_line(1, 2, 100_000, 1900, 38_000), order_line(2, 1, 1_000, 700, 70)]
    credited = credited_lines(lines, {1: 1}, 500, 119_000)
    assert credited == [render.Line("item 1", "SKU-1", 1, 100_000, 0, 1900, 19_000, 119_000)]
    # no lines at all: one refund line, untaxed
    alone = credited_lines([], {}, 0, 300)
    assert [(c.name, c.total_minor, c.tax_minor) for c in alone] == [("Refund", 300, 0)]


def test_what_the_font_lacks_is_replaced() -> None:
    have = {ord(c) for c in "¥1234,€ ?"}
    assert render.printable("￥1,234", have) == "¥1,234"  # NFKC
    assert render.printable("\u200f1,234 €", have) == "1,234 €"  # bidi mark dropped
    assert render.printable("ك", have) == "?"


def test_a_configured_font_must_exist(tmp_path: Path) -> None:
    with pytest.raises(render.FontMissing, match="does not exist"):
        render.find_fonts(tmp_path / "nope.ttf")


def document(kind: render.Kind = "invoice", locale: str = "de_DE") -> render.DocumentData:
    lines = (line(1900, 100_000, 19_000, "Schreibtisch"), line(700, 1_999, 140, "Buch"))
    address = {"name": "Zoë Müller", "line1": "Ring 2", "postal_code": "10115", "city": "Berlin"}
    return render.DocumentData(
        kind=kind,
        number="INV-000007" if kind == "invoice" else "CN-000003",
        issued_at=datetime(2026, 11, 28, 12, 0, tzinfo=UTC),
        order_number="KO-000042",
        order_date=datetime(2026, 11, 27, 9, 30, tzinfo=UTC),
        currency="EUR",
        locale=locale,
        seller=render.Seller("Demo GmbH", "1 Market Street, 10115 Berlin", "DE123"),
        billing=address,
        shipping=address,
        lines=lines,
        totals=render.Totals(101_999, 0, 490, 19_140, 121_629),
        tax_name="VAT",
        groups=tuple(render.tax_groups(lines)),
        refers_to=None if kind == "invoice" else "INV-000007",
    )


def text_of(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return unicodedata.normalize("NFKC", "\n".join(p.extract_text() for p in reader.pages))


def test_an_invoice_reads_back_and_is_deterministic() -> None:
    fonts = render.find_fonts()
    pdf = render.render(document(), fonts)
    assert pdf == render.render(document(), fonts)
    text = text_of(pdf)
    for expected in (
        "INVOICE INV-000007",
        "Order number: KO-000042",
        "Invoice date: 28.11.2026",
        "Zoë Müller",
        "VAT 7 %: net 19,99 €, tax 1,40 €",
        "VAT 19 %: net 1.000,00 €, tax 190,00 €",
        "Total 1.216,29 €",
    ):
        assert expected in text, f"{expected!r} not in:\n{text}"
    assert "\nDiscount" not in text  # no discount, no line for it in the totals


def test_a_credit_note_shows_credited_amounts_negative() -> None:
    text = text_of(render.render(document("credit_note", "en_US"), render.find_fonts()))
    for expected in (
        "CREDIT NOTE CN-000003",
        "Corrects invoice: INV-000007",
        "VAT 19 %: net -€1,000.00, tax -€190.00",
        "Total credited -€1,216.29",
        "reduces invoice INV-000007 by €1,216.29",
    ):
        assert expected in text, f"{expected!r} not in:\n{text}"
