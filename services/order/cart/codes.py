"""ISO 3166-1 alpha-2 country codes (from CLDR via Babel) for tax rates, shipping and carts."""

from __future__ import annotations

from babel import Locale

TERRITORIES = frozenset(
    c for c in Locale("en").territories if isinstance(c, str) and len(c) == 2 and c.isalpha()
)


def country_code(value: str) -> str:
    if value not in TERRITORIES:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code (e.g. DE, US)")
    return value
