"""Countries and locales, validated against CLDR (Babel) rather than hand lists."""

from __future__ import annotations

from functools import cache

from babel import Locale, UnknownLocaleError


@cache
def countries() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes CLDR knows (regions such as `150` are left out)."""
    names = [str(k) for k in Locale("en").territories]
    return frozenset(k for k in names if len(k) == 2 and k.isalpha())


def check_country(value: str) -> str:
    """The upper-case code (`de` → `DE`), or ValueError."""
    code = value.upper()
    if code not in countries():
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code (e.g. DE, US)")
    return code


def check_locale(value: str) -> str:
    """The locale in CLDR form (`de-DE` → `de_DE`), or ValueError."""
    try:
        return str(Locale.parse(value.replace("-", "_")))
    except (ValueError, UnknownLocaleError) as exc:
        raise ValueError(f"{value!r} is not a known locale (e.g. en, de_DE, pt_BR)") from exc
