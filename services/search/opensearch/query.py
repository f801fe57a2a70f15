"""`SearchRequest` → an OpenSearch search body, and its response → `SearchResult`.

Pure functions (no client), so they are unit-testable. The semantics follow the PostgreSQL
backend: every query word must match somewhere in the product (`all_text`, operator AND);
field weights only rank; a second, fuzzy pass (edit distance AUTO) runs when the exact pass
finds too little; facet counts are over the filtered matches; the price facet buckets the
lowest variant price with the same bounds.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from services.search.models import (
    ATTRIBUTE_PREFIX,
    FacetValue,
    PriceRange,
    SearchHit,
    SearchRequest,
    SearchResult,
)
from services.search.opensearch.index import KEY_SEPARATOR

Match = Literal["fulltext", "fuzzy", "all"]
FACET_LIMIT = 50
CATEGORY_FACET_LIMIT = 100
FIELDS = {
    "name": "name",
    "brand": "brand",
    "category": "category_path",
    "attributes": "attributes_text",
    "description": "description",
}
SOURCE = ["product_id", "slug", "name", "brand", "category_path", "prices", "in_stock", "image_url"]


def _text_query(request: SearchRequest, match: Match) -> dict[str, Any]:
    if match == "all":
        return {"match_all": {}}
    fuzzy: dict[str, Any] = {"fuzziness": "AUTO", "prefix_length": 0} if match == "fuzzy" else {}
    fields = [
        f"{FIELDS[name]}^{weight:g}"
        for name, weight in request.ranking.field_weights.items()
        if weight > 0 and name in FIELDS
    ]
    must = {"match": {"all_text": {"query": request.q, "operator": "and", "boost": 0.1, **fuzzy}}}
    should = [
        {
            "multi_match": {
                "query": request.q,
                "type": "best_fields",
                "tie_breaker": 0.3,
                "fields": fields,
                **fuzzy,
            }
        }
    ]
    return {"bool": {"must": [must], "should": should if fields else []}}


def _filters(request: SearchRequest) -> list[dict[str, Any]]:
    f = request.filters
    cur = request.currency
    out: list[dict[str, Any]] = [{"term": {"status": "active"}}]
    if f.category:
        out.append({"term": {"category_ids": f.category}})
    if f.brand:
        out.append({"terms": {"brand.raw": f.brand}})
    price: dict[str, int] = {}
    if f.min_price is not None:
        price["gte"] = f.min_price
    if f.max_price is not None:
        price["lte"] = f.max_price
    if price:
        out.append({"range": {f"prices.{cur}.min": price}})
    if f.in_stock is not None:
        out.append({"term": {"in_stock": f.in_stock}})
    for name, values in sorted(f.attributes.items()):
        if values:
            out.append({"terms": {"attr_pairs": sorted(f"{name}={v}" for v in values)}})
    return out


def _term_factors(pairs: Sequence[tuple[dict[str, Any], float]]) -> list[dict[str, Any]]:
    return [{"filter": flt, "weight": w} for flt, w in pairs]


def _scored(request: SearchRequest, query: dict[str, Any]) -> dict[str, Any]:
    """Multiply the text score by the ranking config's boosts, as the PostgreSQL backend does:
    in-stock and brand factors, the best matching category boost, the personal factor
    `1 + personal_weight * weight`, and recency `1 + boost * 2^(-age / half-life)`."""
    r = request.ranking

    def layer(q: dict[str, Any], functions: list[dict[str, Any]], mode: str) -> dict[str, Any]:
        if not functions:
            return q
        return {
            "function_score": {
                "query": q,
                "functions": functions,
                "score_mode": mode,
                "boost_mode": "multiply",
            }
        }

    factors: list[tuple[dict[str, Any], float]] = []
    if r.in_stock_boost != 1.0:
        factors.append(({"term": {"in_stock": True}}, r.in_stock_boost))
    factors += [({"term": {"brand.raw": b}}, w) for b, w in r.brand_boosts.items()]
    query = layer(query, _term_factors(factors), "multiply")
    categories = [({"term": {"category_ids": c}}, w) for c, w in r.category_boosts.items()]
    query = layer(query, _term_factors(categories), "max")
    if request.personal_categories and r.personal_weight > 0:
        personal = [
            ({"term": {"category_ids": c}}, 1 + r.personal_weight * w)
            for c, w in request.personal_categories.items()
        ]
        query = layer(query, _term_factors(personal), "max")
    if r.recency_boost > 0:
        decay = {
            "exp": {
                "created_at": {
                    "origin": "now",
                    "scale": f"{r.recency_half_life_days * 86400:.0f}s",
                    "decay": 0.5,
                }
            },
            "weight": r.recency_boost,
        }
        query = layer(query, [{"weight": 1}, decay], "sum")
    return query


def _sort(request: SearchRequest) -> list[Any]:
    cur = request.currency
    if request.sort == "price_asc":
        key: list[Any] = [
            {f"prices.{cur}.min": {"order": "asc", "missing": "_last", "unmapped_type": "long"}}
        ]
    elif request.sort == "price_desc":
        key = [
            {f"prices.{cur}.max": {"order": "desc", "missing": "_last", "unmapped_type": "long"}}
        ]
    elif request.sort == "newest":
        key = [{"created_at": "desc"}]
    else:
        key = ["_score", {"created_at": "desc"}]
    return [*key, {"product_id": "asc"}]


def _regex_literal(text: str) -> str:
    return "".join(c if c.isalnum() else "\\" + c for c in text)


def _price_ranges(bounds: Sequence[int]) -> list[dict[str, Any]]:
    ranges: list[dict[str, Any]] = []
    for i, low in enumerate(bounds):
        high = bounds[i + 1] if i + 1 < len(bounds) else None
        key = f"{low}-{high}" if high is not None else f"{low}-"
        ranges.append({"key": key, "from": low, **({"to": high} if high is not None else {})})
    return ranges


def _aggregation(name: str, request: SearchRequest, bounds: Sequence[int]) -> dict[str, Any]:
    order = [{"_count": "desc"}, {"_key": "asc"}]
    if name == "brand":
        return {"terms": {"field": "brand.raw", "size": FACET_LIMIT, "order": order}}
    if name == "category":
        return {"terms": {"field": "category_keys", "size": CATEGORY_FACET_LIMIT, "order": order}}
    if name == "in_stock":
        return {"terms": {"field": "in_stock", "order": {"_key": "desc"}}}
    if name == "price":
        return {
            "range": {"field": f"prices.{request.currency}.min", "ranges": _price_ranges(bounds)}
        }
    attribute = name.removeprefix(ATTRIBUTE_PREFIX)
    return {
        "terms": {
            "field": "attr_pairs",
            "include": _regex_literal(attribute + "=") + ".*",
            "size": FACET_LIMIT,
            "order": order,
        }
    }


def search_body(
    request: SearchRequest, match: Match, *, price_bounds: Sequence[int]
) -> dict[str, Any]:
    query = {"bool": {"must": [_text_query(request, match)], "filter": _filters(request)}}
    body: dict[str, Any] = {
        "query": _scored(request, query),
        "from": (request.page - 1) * request.page_size,
        "size": request.page_size,
        "sort": _sort(request),
        "track_total_hits": True,
        "track_scores": True,
        "_source": SOURCE,
    }
    if request.facets:
        body["aggs"] = {
            f"f{i}": _aggregation(name, request, price_bounds)
            for i, name in enumerate(request.facets)
        }
    if match == "fuzzy":
        body["suggest"] = {
            "text": request.q,
            "fix": {"term": {"field": "spell", "suggest_mode": "missing", "sort": "score"}},
        }
    return body


def _facet_values(name: str, agg: dict[str, Any]) -> list[FacetValue]:
    buckets = agg.get("buckets", [])
    if name == "price":
        return [
            FacetValue(value=b["key"], label=b["key"], count=b["doc_count"])
            for b in buckets
            if b["doc_count"] > 0
        ]
    if name == "in_stock":
        return [
            FacetValue(value=b["key_as_string"], label=b["key_as_string"], count=b["doc_count"])
            for b in buckets
        ]
    if name == "category":
        out = []
        for b in buckets:
            cid, _, label = str(b["key"]).partition(KEY_SEPARATOR)
            out.append(FacetValue(value=cid, label=label, count=b["doc_count"]))
        return out
    if name.startswith(ATTRIBUTE_PREFIX):
        cut = len(name) - len(ATTRIBUTE_PREFIX) + 1
        return [
            FacetValue(value=b["key"][cut:], label=b["key"][cut:], count=b["doc_count"])
            for b in buckets
        ]
    return [
        FacetValue(value=str(b["key"]), label=str(b["key"]), count=b["doc_count"]) for b in buckets
    ]


def _hit(request: SearchRequest, hit: dict[str, Any]) -> SearchHit:
    src = hit["_source"]
    price = (src.get("prices") or {}).get(request.currency)
    return SearchHit(
        product_id=src["product_id"],
        slug=src["slug"],
        name=src["name"],
        brand=src.get("brand"),
        category_path=src.get("category_path") or [],
        price=PriceRange(**price) if price else None,
        in_stock=bool(src.get("in_stock")),
        image_url=src.get("image_url"),
        score=float(hit.get("_score") or 0.0),
    )


_WORD = re.compile(r"[^\W_]+")


def corrected_query(q: str, response: dict[str, Any]) -> str | None:
    """The query with each word the term suggester corrected replaced by its best option."""
    fixes = {
        entry["text"]: entry["options"][0]["text"]
        for entry in response.get("suggest", {}).get("fix", [])
        if entry.get("options")
    }
    if not fixes:
        return None
    return " ".join(fixes.get(w, w) for w in _WORD.findall(q.lower()))


def search_result(request: SearchRequest, response: dict[str, Any], match: Match) -> SearchResult:
    aggs = response.get("aggregations", {})
    return SearchResult(
        total=int(response["hits"]["total"]["value"]),
        hits=[_hit(request, h) for h in response["hits"]["hits"]],
        facets={
            name: _facet_values(name, aggs.get(f"f{i}", {}))
            for i, name in enumerate(request.facets)
        },
        matched_by=match,
        corrected_query=corrected_query(request.q, response) if match == "fuzzy" else None,
    )
