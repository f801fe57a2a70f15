"""URL slugs for names (`"Men's Shirts"` -> `"men-s-shirts"`)."""

from __future__ import annotations

import re
import unicodedata

_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = _NOT_ALNUM.sub("-", ascii_name.lower()).strip("-")
    return slug or "x"
