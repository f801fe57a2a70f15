"""`SearchDocument` → the `products` row and the words it adds to the lexicon."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from services.search.models import SearchDocument
from services.search.querytext import words

UPSERT = """
INSERT INTO products AS p (
  product_id, version, status, slug, name, description, brand, category_id, category_ids,
  category_path, category_text, attributes, attr_pairs, attributes_text, variant_ids, skus,
  prices, image_url, available, in_stock, created_at, changed_at)
SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9::text[], $10::text[], array_to_string($10::text[], ' '),
  $11::jsonb, $12::text[], $13, $14::text[], $15::text[], $16::jsonb, $17, s.total, s.total > 0,
  $18, $18
FROM (SELECT coalesce(sum(greatest(available, 0)), 0)::bigint AS total
      FROM variant_stock WHERE variant_id = ANY($14::text[])) s
ON CONFLICT (product_id) DO UPDATE SET
  version = EXCLUDED.version, status = EXCLUDED.status, slug = EXCLUDED.slug,
  name = EXCLUDED.name, description = EXCLUDED.description, brand = EXCLUDED.brand,
  category_id = EXCLUDED.category_id, category_ids = EXCLUDED.category_ids,
  category_path = EXCLUDED.category_path, category_text = EXCLUDED.category_text,
  attributes = EXCLUDED.attributes,
  attr_pairs = EXCLUDED.attr_pairs, attributes_text = EXCLUDED.attributes_text,
  variant_ids = EXCLUDED.variant_ids, skus = EXCLUDED.skus, prices = EXCLUDED.prices,
  image_url = EXCLUDED.image_url, available = EXCLUDED.available,
  in_stock = EXCLUDED.in_stock, changed_at = EXCLUDED.changed_at,
  created_at = CASE WHEN p.status = 'deleted' THEN EXCLUDED.created_at ELSE p.created_at END
WHERE p.version < EXCLUDED.version
RETURNING product_id
"""

ADD_WORDS = "INSERT INTO lexicon (word) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING"
ADD_ATTRIBUTES = (
    "INSERT INTO attribute_names (name) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING"
)
MIN_WORD = 3


def attr_pairs(document: SearchDocument) -> list[str]:
    return sorted({f"{k}={v}" for k, values in document.attributes.items() for v in values})


def upsert_args(document: SearchDocument) -> tuple[Any, ...]:
    prices = {c: r.model_dump() for c, r in document.prices.items()}
    return (
        document.product_id,
        document.version,
        document.status,
        document.slug,
        document.name,
        document.description,
        document.brand,
        document.category_id,
        document.category_ids,
        document.category_path,
        json.dumps(document.attributes),
        attr_pairs(document),
        " ".join(v for values in document.attributes.values() for v in values),
        document.variant_ids,
        document.skus,
        json.dumps(prices),
        document.image_url,
        document.changed_at,
    )


def lexicon_words(documents: Sequence[SearchDocument]) -> list[str]:
    """Words typo correction may suggest: from names, brands, categories, attribute values."""
    found: set[str] = set()
    for d in documents:
        values = [v for vs in d.attributes.values() for v in vs]
        for text in (d.name, d.brand or "", *d.category_path, *values):
            found.update(w for w in words(text) if len(w) >= MIN_WORD and not w.isdigit())
    return sorted(found)


def attribute_names(documents: Sequence[SearchDocument]) -> list[str]:
    return sorted({k for d in documents for k in d.attributes})
