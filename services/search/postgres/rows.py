"""`SearchDocument` → the `products` and `product_details` rows and the words it adds to the
lexicon."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from services.search.models import SearchDocument
from services.search.querytext import words

# The narrow `products` row is written only when the version is newer; `product_details`
# follows it in the same statement (a stale event changes neither).
UPSERT = """
WITH stock AS (
  SELECT coalesce(sum(greatest(available, 0)), 0)::bigint AS total
  FROM variant_stock WHERE variant_id = ANY($14::text[])
), hot AS (
  INSERT INTO products AS p (
    product_id, version, status, name, brand, category_ids, category_path, attr_pairs, prices,
    available, in_stock, created_at, changed_at, document)
  SELECT $1, $2, $3, $5, $7, $9::text[], $10::text[], $12::text[], $16::jsonb,
    stock.total, stock.total > 0, $18, $18, search_document($5, $7, $10::text[], $13, $6)
  FROM stock
  ON CONFLICT (product_id) DO UPDATE SET
    version = EXCLUDED.version, status = EXCLUDED.status, name = EXCLUDED.name,
    brand = EXCLUDED.brand, category_ids = EXCLUDED.category_ids,
    category_path = EXCLUDED.category_path, attr_pairs = EXCLUDED.attr_pairs,
    prices = EXCLUDED.prices, available = EXCLUDED.available, in_stock = EXCLUDED.in_stock,
    changed_at = EXCLUDED.changed_at, document = EXCLUDED.document,
    created_at = CASE WHEN p.status = 'deleted' THEN EXCLUDED.created_at ELSE p.created_at END
  WHERE p.version < EXCLUDED.version
  RETURNING product_id
), details AS (
  INSERT INTO product_details AS d (
    product_id, slug, description, category_id, attributes, attributes_text, variant_ids, skus,
    image_url)
  SELECT hot.product_id, $4, $6, $8, $11::jsonb, $13, $14::text[], $15::text[], $17 FROM hot
  ON CONFLICT (product_id) DO UPDATE SET
    slug = EXCLUDED.slug, description = EXCLUDED.description,
    category_id = EXCLUDED.category_id, attributes = EXCLUDED.attributes,
    attributes_text = EXCLUDED.attributes_text, variant_ids = EXCLUDED.variant_ids,
    skus = EXCLUDED.skus, image_url = EXCLUDED.image_url
)
SELECT product_id FROM hot
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
