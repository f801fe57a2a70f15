"""Invoice and credit note PDFs (fpdf2), from plain data: no database, no I/O but the font files.

What a document shows: the seller (name, address, tax id), the document number and date, the
order number and date, billing and shipping addresses, a table of lines, one tax line per rate
("VAT 19 %: net 100,00 €, tax 19,00 €"), and the totals. Credit notes name the invoice they
correct and show every credited amount negative, under "credited" labels.

Amounts are integer minor units turned into text by Babel through `kommerce.money` in the
order's locale (`de_DE`: "1.234,56 €"; JPY has no decimals, KWD three). Labels are English.

Fonts: fpdf2's built-in fonts are Latin-1 only (no €, no ￥), so a Unicode TrueType font is
embedded (subset): `invoice_font`/`invoice_font_bold` from the settings, else DejaVu Sans from
the system (Debian/Ubuntu `fonts-dejavu-core`, Fedora, Arch paths). Nothing is downloaded. A
character the font lacks is replaced by its compatibility form (NFKC: fullwidth ￥ → ¥) or `?`;
invisible format characters (bidi marks) are dropped. Right-to-left scripts are not shaped.

Output is deterministic: the same data gives the same bytes (the creation date is the
document's issue time, the file id is derived from the content).
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any, Literal

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_decimal
from fpdf import FPDF
from fpdf.fonts import FontFace

from kommerce.money import Money

DEFAULT_LOCALE = "en_US"
SYSTEM_FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),  # Debian, Ubuntu (fonts-dejavu-core)
    Path("/usr/share/fonts/dejavu-sans-fonts"),  # Fedora
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),  # Arch
    Path("/usr/local/share/fonts"),
    Path("/Library/Fonts"),
)
REGULAR, BOLD = "DejaVuSans.ttf", "DejaVuSans-Bold.ttf"
FAMILY = "body"

Kind = Literal["invoice", "credit_note"]
# fpdf2 subsets the embedded font with fontTools, which logs every step at INFO.
logging.getLogger("fontTools").setLevel(logging.WARNING)


class FontMissing(RuntimeError):
    """No Unicode TrueType font to embed (install fonts-dejavu-core or set invoice_font)."""


# --- numbers as people read them ------------------------------------------------------------


def resolve_locale(locale: str | None) -> str:
    """The order's locale if Babel knows it (`de-DE` is accepted too), else en_US."""
    if not locale:
        return DEFAULT_LOCALE
    try:
        return str(Locale.parse(locale.replace("-", "_")))
    except (UnknownLocaleError, ValueError, TypeError):
        return DEFAULT_LOCALE


def money(amount_minor: int, currency: str, locale: str) -> str:
    """Integer minor units as currency text in `locale`: 123456 EUR de_DE → "1.234,56 €"."""
    return Money(amount=amount_minor, currency=currency).format(resolve_locale(locale))


def rate(rate_bp: int, locale: str) -> str:
    """A tax rate in basis points as a percentage: 1900 → "19 %", 750 (de_DE) → "7,5 %"."""
    return f"{format_decimal(Decimal(rate_bp) / 100, locale=resolve_locale(locale))} %"


def day(at: datetime, locale: str) -> str:
    return str(format_date(at.date(), format="medium", locale=resolve_locale(locale)))


def half_even(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def tax_in_gross(gross_minor: int, rate_bp: int) -> int:
    """The tax contained in a gross amount at `rate_bp`, rounded half-even (per line)."""
    return half_even(Decimal(gross_minor) * rate_bp / (10_000 + rate_bp))


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Split `total` in proportion to non-negative `weights` so the parts add up exactly
    (largest remainder; ties to the earlier part). All-zero weights: everything to the first."""
    if not weights:
        return []
    whole = sum(weights)
    if whole <= 0:
        return [total] + [0] * (len(weights) - 1)
    parts = [total * w // whole for w in weights]
    remainders = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in remainders[: total - sum(parts)]:
        parts[i] += 1
    return parts


# --- what a document says -------------------------------------------------------------------


@dataclass(frozen=True)
class Seller:
    name: str
    address: str
    tax_id: str


@dataclass(frozen=True)
class Line:
    """A row of the table. Invoices: an order line (amounts as ordered). Credit notes: what is
    credited for it (`total_minor` is the credited gross, `tax_minor` its tax)."""

    name: str
    sku: str
    quantity: int
    unit_price_minor: int
    discount_minor: int
    tax_rate_bp: int
    tax_minor: int
    total_minor: int  # gross: net + tax

    @property
    def net_minor(self) -> int:
        return self.total_minor - self.tax_minor


@dataclass(frozen=True)
class TaxGroup:
    rate_bp: int | None  # None: tax not tied to a line rate (e.g. on shipping)
    net_minor: int
    tax_minor: int


def tax_groups(lines: Iterable[Line], *, extra_tax_minor: int = 0) -> list[TaxGroup]:
    """Net and tax per rate, lowest rate first; `extra_tax_minor` (order tax the lines do not
    carry, e.g. on shipping) is a group of its own at the end."""
    by_rate: dict[int, tuple[int, int]] = {}
    for line in lines:
        net, tax = by_rate.get(line.tax_rate_bp, (0, 0))
        by_rate[line.tax_rate_bp] = (net + line.net_minor, tax + line.tax_minor)
    groups = [TaxGroup(r, net, tax) for r, (net, tax) in sorted(by_rate.items())]
    if extra_tax_minor:
        groups.append(TaxGroup(None, 0, extra_tax_minor))
    return groups


@dataclass(frozen=True)
class Totals:
    subtotal_minor: int
    discount_minor: int
    shipping_minor: int
    tax_minor: int
    total_minor: int


@dataclass(frozen=True)
class DocumentData:
    kind: Kind
    number: str
    issued_at: datetime
    order_number: str
    order_date: datetime
    currency: str
    locale: str
    seller: Seller
    billing: dict[str, Any]
    shipping: dict[str, Any]
    lines: tuple[Line, ...]
    totals: Totals
    tax_name: str = "Tax"
    groups: tuple[TaxGroup, ...] = field(default=())
    refers_to: str | None = None  # credit notes: the invoice number
    note: str = ""


def address_lines(address: dict[str, Any]) -> list[str]:
    city = " ".join(str(p) for p in (address.get("postal_code"), address.get("city")) if p)
    parts = [
        address.get("name"),
        address.get("line1"),
        address.get("line2"),
        city,
        address.get("region"),
        address.get("country"),
    ]
    return [str(p) for p in parts if p]


# --- fonts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fonts:
    regular: Path
    bold: Path


def find_fonts(regular: Path | None = None, bold: Path | None = None) -> Fonts:
    """The configured font files, else DejaVu Sans from the first system directory with it."""
    if regular is not None:
        if not regular.is_file():
            raise FontMissing(f"invoice font {regular} does not exist")
        return Fonts(regular, bold if bold is not None and bold.is_file() else regular)
    for directory in SYSTEM_FONT_DIRS:
        if (directory / REGULAR).is_file():
            found = directory / BOLD
            return Fonts(directory / REGULAR, found if found.is_file() else directory / REGULAR)
    raise FontMissing(
        "no Unicode TrueType font for invoices: install DejaVu Sans (Debian: apt-get install "
        "fonts-dejavu-core) or set KOMMERCE_ORDER_INVOICE_FONT to a .ttf file"
    )


def printable(text: str, have: Collection[int]) -> str:
    """`text` with what a font (its code points: `have`) cannot draw replaced (see the module
    docstring)."""
    out: list[str] = []
    for ch in text:
        if ord(ch) in have:
            out.append(ch)
        elif unicodedata.category(ch) == "Cf":
            continue
        else:
            folded = unicodedata.normalize("NFKC", ch)
            out.append(folded if all(ord(c) in have for c in folded) else "?")
    return "".join(out)


# --- the PDF --------------------------------------------------------------------------------


class _Pdf(FPDF):
    def __init__(self, fonts: Fonts) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.add_font(FAMILY, "", str(fonts.regular))
        self.add_font(FAMILY, "B", str(fonts.bold))
        self.glyphs = {
            bold: frozenset(getattr(self.fonts[FAMILY + ("B" if bold else "")], "cmap", ()))
            for bold in (False, True)
        }
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(auto=True, margin=18)

    def text_of(self, value: str, *, bold: bool = False) -> str:
        return printable(value, self.glyphs[bold])

    def write_line(
        self, value: str, *, size: float = 9, bold: bool = False, h: float = 4.6
    ) -> None:
        self.set_font(FAMILY, "B" if bold else "", size)
        self.multi_cell(0, h, self.text_of(value, bold=bold), new_x="LMARGIN", new_y="NEXT")


def render(doc: DocumentData, fonts: Fonts) -> bytes:
    """The PDF of an invoice or credit note."""
    credit = doc.kind == "credit_note"
    sign = -1 if credit else 1

    def m(amount_minor: int) -> str:
        return money(sign * amount_minor, doc.currency, doc.locale)

    pdf = _Pdf(fonts)
    title = "Credit note" if credit else "Invoice"
    pdf.set_title(f"{title} {doc.number}")
    pdf.set_author(doc.seller.name)
    pdf.set_creator("Kommerce order service")
    pdf.set_producer("Kommerce")
    pdf.set_creation_date(doc.issued_at)
    pdf.add_page()

    # seller
    pdf.write_line(doc.seller.name, size=14, bold=True, h=7)
    for part in doc.seller.address.split(", "):
        pdf.write_line(part)
    pdf.write_line(f"Tax ID: {doc.seller.tax_id}")
    pdf.ln(6)

    # title and references
    pdf.write_line(f"{title.upper()} {doc.number}", size=18, bold=True, h=9)
    facts = [
        (f"{title} number", doc.number),
        (f"{title} date", day(doc.issued_at, doc.locale)),
        ("Order number", doc.order_number),
        ("Order date", day(doc.order_date, doc.locale)),
    ]
    if doc.refers_to:
        facts.insert(1, ("Corrects invoice", doc.refers_to))
    if doc.note:
        facts.append(("Reason", doc.note))
    for label, value in facts:
        pdf.set_font(FAMILY, "B", 9)
        pdf.cell(40, 4.8, pdf.text_of(f"{label}:", bold=True))
        pdf.set_font(FAMILY, "", 9)
        pdf.cell(0, 4.8, pdf.text_of(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(5)

    # addresses, side by side
    top = pdf.get_y()
    column = (pdf.w - pdf.l_margin - pdf.r_margin) / 2
    bottom = top
    for i, (label, address) in enumerate((("Bill to", doc.billing), ("Ship to", doc.shipping))):
        x = pdf.l_margin + i * column
        pdf.set_xy(x, top)
        pdf.set_font(FAMILY, "B", 9)
        pdf.cell(column, 4.8, label, new_x="LEFT", new_y="NEXT")
        pdf.set_font(FAMILY, "", 9)
        for part in address_lines(address):
            pdf.cell(column, 4.6, pdf.text_of(part), new_x="LEFT", new_y="NEXT")
        bottom = max(bottom, pdf.get_y())
    pdf.set_xy(pdf.l_margin, bottom + 6)

    # lines
    pdf.set_font(FAMILY, "", 8.5)
    if credit:
        head = ("Item", "SKU", "Qty", "Tax rate", "Net credited", "Tax credited", "Credited")
        widths = (48, 28, 12, 18, 25, 25, 24)
        rows = [
            (
                line.name,
                line.sku,
                str(line.quantity) if line.quantity else "",
                rate(line.tax_rate_bp, doc.locale),
                m(line.net_minor),
                m(line.tax_minor),
                m(line.total_minor),
            )
            for line in doc.lines
        ]
    else:
        head = ("Item", "SKU", "Qty", "Unit price", "Discount", "Tax rate", "Line total")
        widths = (52, 30, 12, 24, 22, 18, 22)
        rows = [
            (
                line.name,
                line.sku,
                str(line.quantity),
                m(line.unit_price_minor),
                m(-line.discount_minor) if line.discount_minor else "",
                rate(line.tax_rate_bp, doc.locale),
                m(line.total_minor),
            )
            for line in doc.lines
        ]
    align = ("LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT", "RIGHT")
    with pdf.table(
        col_widths=widths,
        text_align=align,
        headings_style=FontFace(emphasis="BOLD", fill_color=(235, 235, 235)),
        line_height=5,
        first_row_as_headings=True,
        borders_layout="HORIZONTAL_LINES",
    ) as table:
        for values in (head, *rows):
            row = table.row()
            for value in values:
                row.cell(pdf.text_of(value, bold=values is head))
    pdf.ln(4)

    # tax lines
    for group in doc.groups:
        label = (
            f"{doc.tax_name} {rate(group.rate_bp, doc.locale)}"
            if group.rate_bp is not None
            else f"{doc.tax_name} on shipping"
        )
        net = f"net {m(group.net_minor)}, " if group.rate_bp is not None else ""
        pdf.write_line(f"{label}: {net}tax {m(group.tax_minor)}")
    pdf.ln(3)

    # totals, right-aligned
    t = doc.totals
    if credit:
        totals = [
            ("Net credited", m(t.total_minor - t.tax_minor), False),
            ("Tax credited", m(t.tax_minor), False),
            ("Total credited", m(t.total_minor), True),
        ]
    else:
        totals = [("Subtotal", m(t.subtotal_minor), False)]
        if t.discount_minor:
            totals.append(("Discount", m(-t.discount_minor), False))
        totals += [
            ("Shipping", m(t.shipping_minor), False),
            ("Tax", m(t.tax_minor), False),
            ("Total", m(t.total_minor), True),
        ]
    for label, value, strong in totals:
        pdf.set_x(pdf.w - pdf.r_margin - 90)
        pdf.set_font(FAMILY, "B" if strong else "", 10 if strong else 9)
        pdf.cell(50, 5.5, label, align="R")
        pdf.cell(40, 5.5, pdf.text_of(value, bold=strong), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)

    if credit:
        pdf.write_line(
            f"This credit note reduces invoice {doc.refers_to} by "
            f"{money(t.total_minor, doc.currency, doc.locale)}; the amount is refunded to the "
            "original payment method.",
            size=8,
        )
    else:
        pdf.write_line(f"Amounts in {doc.currency}. Thank you for your order.", size=8)
    return bytes(pdf.output())
