"""Building import files for the transfer tests."""

from __future__ import annotations

import json
from typing import Any

from services.product import exporter, generator


def products(start: int, count: int, seed: int = 42) -> list[dict[str, Any]]:
    """Generated products `start`..`start+count` (disjoint ranges never share slugs or SKUs)."""
    return [generator.product(i, seed) for i in range(start, start + count)]


def jsonl(docs: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(d) + "\n" for d in docs).encode()


def csv_text(docs: list[dict[str, Any]]) -> bytes:
    return "".join(exporter.encode(docs, "csv")).encode()
