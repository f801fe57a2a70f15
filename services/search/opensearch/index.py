"""The indices' settings and mappings, and `SearchDocument` → the document OpenSearch holds.

Two indices: `<prefix>-products` (one document per product, tombstones for deleted ones) and
`<prefix>-stock` (one per variant: its available-to-sell). Both use external versioning, so
OpenSearch itself rejects a stale write:

- a product's external version is `version * VERSION_SPAN`; the low part counts in-stock
  corrections made while the product version stays the same, so a correction never outranks
  the next product version, and a re-delivered event (same version) is always stale;
- a deletion writes a tombstone document (status `deleted`) at the deletion's version, so a
  late `product.changed` of that version or older cannot resurrect the product;
- a variant's stock document is versioned by its `changed_at` in microseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from services.search.models import SearchDocument, SynonymGroup
from services.search.querytext import normalise

VERSION_SPAN = 2**20
SYNONYM_FILTER = "kommerce_synonyms"
KEY_SEPARATOR = "\u001f"  # between a category id and its name in `category_keys`
MAX_RESULT_WINDOW = 100_000  # SearchRequest allows page 1000 x page_size 100


def product_version(document_version: int) -> int:
    return document_version * VERSION_SPAN


def stock_version(changed_at: datetime) -> int:
    return int(changed_at.timestamp() * 1_000_000)


def synonym_rules(groups: Sequence[SynonymGroup]) -> list[str]:
    """Solr-format equivalence rules; words only, so a term can never carry rule syntax."""
    rules = []
    for group in groups:
        terms = list(dict.fromkeys(t for t in (normalise(term) for term in group.terms) if t))
        if len(terms) >= 2:
            rules.append(", ".join(terms))
    return rules


def products_settings(synonyms: Sequence[str]) -> dict[str, Any]:
    text = {"type": "text", "analyzer": "kommerce_text", "search_analyzer": "kommerce_search"}
    return {
        "settings": {
            "index": {
                "number_of_shards": 1,
                "number_of_replicas": 0,
                "max_result_window": MAX_RESULT_WINDOW,
            },
            "analysis": {
                "filter": {
                    SYNONYM_FILTER: {
                        "type": "synonym_graph",
                        "synonyms": list(synonyms),
                        "lenient": True,
                    },
                    "kommerce_possessive": {"type": "stemmer", "language": "possessive_english"},
                    "kommerce_stemmer": {"type": "stemmer", "language": "english"},
                },
                "analyzer": {
                    "kommerce_text": {
                        "tokenizer": "standard",
                        "filter": [
                            "lowercase",
                            "asciifolding",
                            "kommerce_possessive",
                            "kommerce_stemmer",
                        ],
                    },
                    "kommerce_search": {
                        "tokenizer": "standard",
                        "filter": [
                            "lowercase",
                            "asciifolding",
                            SYNONYM_FILTER,
                            "kommerce_possessive",
                            "kommerce_stemmer",
                        ],
                    },
                    "kommerce_plain": {
                        "tokenizer": "standard",
                        "filter": ["lowercase", "asciifolding"],
                    },
                },
            },
        },
        "mappings": {
            "dynamic": "strict",
            "dynamic_templates": [
                {"prices": {"path_match": "prices.*.*", "mapping": {"type": "long"}}},
            ],
            "properties": {
                "product_id": {"type": "keyword"},
                "version": {"type": "long"},
                "status": {"type": "keyword"},
                "slug": {"type": "keyword"},
                "name": {
                    **text,
                    "copy_to": ["all_text", "spell"],
                    "fields": {"raw": {"type": "keyword", "ignore_above": 512}},
                },
                "description": {**text, "copy_to": ["all_text"]},
                "brand": {
                    **text,
                    "copy_to": ["all_text", "spell"],
                    "fields": {"raw": {"type": "keyword"}},
                },
                "category_id": {"type": "keyword"},
                "category_ids": {"type": "keyword"},
                "category_path": {**text, "copy_to": ["all_text", "spell"]},
                "category_keys": {"type": "keyword"},
                "attributes_text": {**text, "copy_to": ["all_text", "spell"]},
                "attr_pairs": {"type": "keyword"},
                "attr_names": {"type": "keyword"},
                "variant_ids": {"type": "keyword"},
                "skus": {"type": "keyword"},
                "prices": {"type": "object", "dynamic": True},
                "available": {"type": "long"},
                "in_stock": {"type": "boolean"},
                "image_url": {"type": "keyword", "index": False},
                "created_at": {"type": "date"},
                "changed_at": {"type": "date"},
                "all_text": text,
                "spell": {"type": "text", "analyzer": "kommerce_plain"},
                "suggest": {
                    "type": "completion",
                    "analyzer": "kommerce_plain",
                    "preserve_separators": True,
                    "max_input_length": 100,
                },
            },
        },
    }


STOCK_SETTINGS: dict[str, Any] = {
    "settings": {"index": {"number_of_shards": 1, "number_of_replicas": 0}},
    "mappings": {
        "dynamic": "strict",
        "properties": {
            "variant_id": {"type": "keyword"},
            "product_id": {"type": "keyword"},
            "available": {"type": "long"},
            "changed_at": {"type": "date"},
        },
    },
}


def suggest_inputs(name: str) -> list[dict[str, Any]]:
    """The whole name, and the name from each later word on (weighted lower), so a prefix of
    any word finds it ("shi" -> "Acme Oxford Shirt")."""
    words = name.split()
    inputs = [{"input": [name], "weight": 10}]
    tails = [" ".join(words[i:]) for i in range(1, min(len(words), 6))]
    if tails:
        inputs.append({"input": tails, "weight": 5})
    return inputs


def product_body(
    document: SearchDocument, *, available: int, created_at: datetime
) -> dict[str, Any]:
    values = [v for vs in document.attributes.values() for v in vs]
    body: dict[str, Any] = {
        "product_id": document.product_id,
        "version": document.version,
        "status": document.status,
        "slug": document.slug,
        "name": document.name,
        "description": document.description,
        "brand": document.brand,
        "category_id": document.category_id,
        "category_ids": document.category_ids,
        "category_path": document.category_path,
        "category_keys": [
            f"{cid}{KEY_SEPARATOR}{label}"
            for cid, label in zip(document.category_ids, document.category_path, strict=False)
        ],
        "attributes_text": " ".join(values),
        "attr_pairs": sorted({f"{k}={v}" for k, vs in document.attributes.items() for v in vs}),
        "attr_names": sorted(document.attributes),
        "variant_ids": document.variant_ids,
        "skus": document.skus,
        "prices": {c: r.model_dump() for c, r in document.prices.items()},
        "available": available,
        "in_stock": available > 0,
        "image_url": document.image_url,
        "created_at": created_at.isoformat(),
        "changed_at": document.changed_at.isoformat(),
    }
    if document.status == "active" and document.name.strip():
        body["suggest"] = suggest_inputs(document.name)
    return body


def tombstone_body(product_id: str, version: int) -> dict[str, Any]:
    return {"product_id": product_id, "version": version, "status": "deleted"}


def with_category_path(
    body: dict[str, Any], category_id: str, path_ids: Sequence[str], path_names: Sequence[str]
) -> dict[str, Any]:
    """The body with the part of its path up to `category_id` replaced by the new path."""
    ids = list(body.get("category_ids") or [])
    names = list(body.get("category_path") or [])
    cut = ids.index(category_id) + 1
    new_ids = [*path_ids, *ids[cut:]]
    new_names = [*path_names, *names[cut:]]
    return {
        **body,
        "category_ids": new_ids,
        "category_path": new_names,
        "category_keys": [
            f"{cid}{KEY_SEPARATOR}{label}" for cid, label in zip(new_ids, new_names, strict=False)
        ],
    }
