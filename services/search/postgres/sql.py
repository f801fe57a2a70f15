# ruff: noqa: S608  # SQL is assembled from fixed fragments; every value is a $n parameter
"""One SQL statement per search: match + filters in a materialised CTE, then the page and every
requested facet's counts computed from it in the same round trip (json columns)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from services.search.models import ATTRIBUTE_PREFIX, RankingConfig, SearchRequest

# fulltext: the tsquery (any tsquery: strict or relaxed); trigram: the query's word similarity
# to product names; all: no query text
Match = Literal["fulltext", "trigram", "all"]
FACET_LIMIT = 50
CATEGORY_FACET_LIMIT = 100


@dataclass
class Params:
    values: list[Any] = field(default_factory=list)

    def __call__(self, value: Any, cast: str = "") -> str:
        self.values.append(value)
        return f"${len(self.values)}{cast}"


def _weights(ranking: RankingConfig) -> list[float]:
    """ts_rank's {D, C, B, A} weights, scaled into [0, 1]."""
    w = ranking.field_weights
    raw = [
        w.get("description", 0.1),
        w.get("attributes", 0.3),
        max(w.get("brand", 0.5), w.get("category", 0.5)),
        w.get("name", 1.0),
    ]
    top = max(raw) or 1.0
    return [x / top for x in raw]


def _score(request: SearchRequest, match: Match, p: Params, raw: str) -> str:
    r = request.ranking
    if match == "all":
        score = "1.0"
    elif match == "trigram":
        score = f"word_similarity({raw}, lower(p.name))"
    else:
        score = f"ts_rank({p(_weights(r), '::float4[]')}, p.document, query)"
    factors = [score]
    if r.in_stock_boost != 1.0:
        factors.append(f"(CASE WHEN p.in_stock THEN {p(r.in_stock_boost, '::float8')} ELSE 1 END)")
    if r.brand_boosts:
        names = p(list(r.brand_boosts), "::text[]")
        ws = p(list(r.brand_boosts.values()), "::float8[]")
        factors.append(
            f"coalesce((SELECT b.w FROM unnest({names}, {ws}) AS b(n, w) "  # nosec B608
            "WHERE b.n = p.brand LIMIT 1), 1)"
        )
    if r.category_boosts:
        ids = p(list(r.category_boosts), "::text[]")
        ws = p(list(r.category_boosts.values()), "::float8[]")
        factors.append(
            f"coalesce((SELECT max(b.w) FROM unnest({ids}, {ws}) AS b(id, w) "  # nosec B608
            "WHERE b.id = ANY(p.category_ids)), 1)"
        )
    if request.personal_categories and r.personal_weight > 0:
        ids = p(list(request.personal_categories), "::text[]")
        ws = p(list(request.personal_categories.values()), "::float8[]")
        factors.append(
            f"(1 + {p(r.personal_weight, '::float8')} * coalesce((SELECT max(b.w) FROM "  # nosec B608
            f"unnest({ids}, {ws}) AS b(id, w) WHERE b.id = ANY(p.category_ids)), 0))"
        )
    if r.recency_boost > 0:
        factors.append(
            f"(1 + {p(r.recency_boost, '::float8')} * exp(-0.693 * extract(epoch FROM now() - "
            f"p.created_at) / 86400.0 / {p(r.recency_half_life_days, '::float8')}))"
        )
    return " * ".join(factors)


def _filters(request: SearchRequest, p: Params, cur: str) -> list[str]:
    f = request.filters
    out = []
    if f.category:
        out.append(f"p.category_ids @> ARRAY[{p(f.category)}]::text[]")
    if f.brand:
        out.append(f"p.brand = ANY({p(f.brand, '::text[]')})")
    if f.min_price is not None:
        out.append(f"(p.prices -> {cur} ->> 'min')::bigint >= {p(f.min_price, '::bigint')}")
    if f.max_price is not None:
        out.append(f"(p.prices -> {cur} ->> 'min')::bigint <= {p(f.max_price, '::bigint')}")
    if f.in_stock is not None:
        out.append(f"p.in_stock = {p(f.in_stock)}")
    for name, values in sorted(f.attributes.items()):
        if values:
            pairs = sorted(f"{name}={v}" for v in values)
            out.append(f"p.attr_pairs && {p(pairs, '::text[]')}")
    return out


def _order(request: SearchRequest) -> str:
    return {
        "relevance": "score DESC, created_at DESC, product_id",
        "price_asc": "price_min ASC NULLS LAST, product_id",
        "price_desc": "price_max DESC NULLS LAST, product_id",
        "newest": "created_at DESC, product_id",
    }[request.sort]


def _facet(name: str, p: Params, bounds: list[int]) -> str:
    def agg(inner: str) -> str:
        return (
            f"(SELECT coalesce(json_agg(json_build_array(v, l, n)), '[]'::json) FROM ({inner}) f)"  # nosec B608
        )

    if name == "brand":
        return agg(
            "SELECT brand AS v, brand AS l, count(*) AS n FROM matched WHERE brand IS NOT NULL "  # nosec B608
            f"GROUP BY brand ORDER BY n DESC, brand LIMIT {FACET_LIMIT}"
        )
    if name == "category":
        return agg(
            "SELECT c.id AS v, max(c.label) AS l, count(*) AS n FROM (SELECT "  # nosec B608
            "unnest(category_ids) AS id, unnest(category_path) AS label FROM matched) c "
            f"GROUP BY c.id ORDER BY n DESC, c.id LIMIT {CATEGORY_FACET_LIMIT}"
        )
    if name == "in_stock":
        return agg(
            "SELECT in_stock::text AS v, in_stock::text AS l, count(*) AS n FROM matched "
            "GROUP BY in_stock ORDER BY in_stock DESC"
        )
    if name == "price":
        b = p(bounds, "::bigint[]")
        return agg(
            f"SELECT width_bucket(price_min, {b})::text AS v, '' AS l, count(*) AS n "  # nosec B608
            "FROM matched WHERE price_min IS NOT NULL GROUP BY 1 ORDER BY 1::int"
        )
    attribute = name.removeprefix(ATTRIBUTE_PREFIX)
    prefix = p(attribute + "=")
    start = p(len(attribute) + 2, "::int")
    return agg(
        f"SELECT substr(a, {start}) AS v, substr(a, {start}) AS l, count(*) AS n "  # nosec B608
        "FROM (SELECT unnest(attr_pairs) AS a FROM matched) x "
        f"WHERE left(a, {start} - 1) = {prefix} "
        f"GROUP BY 1 ORDER BY n DESC, 1 LIMIT {FACET_LIMIT}"
    )


def _matched_columns(request: SearchRequest, cur: str) -> list[str]:
    """Only what the order and the requested facets read: the CTE is materialised for every
    match, the page's other columns are read for its rows alone."""
    columns = [
        "p.product_id",
        "p.created_at",
        f"(p.prices -> {cur} ->> 'min')::bigint AS price_min",
    ]
    if request.sort == "price_desc":
        columns.append(f"(p.prices -> {cur} ->> 'max')::bigint AS price_max")
    facets = set(request.facets)
    if "brand" in facets:
        columns.append("p.brand")
    if "category" in facets:
        columns += ["p.category_ids", "p.category_path"]
    if "in_stock" in facets:
        columns.append("p.in_stock")
    if any(f.startswith(ATTRIBUTE_PREFIX) for f in facets):
        columns.append("p.attr_pairs")
    return columns


def search_sql(
    request: SearchRequest,
    *,
    match: Match,
    tsquery: str = "",
    raw_query: str = "",
    price_bounds: list[int] | None = None,
) -> tuple[str, list[Any]]:
    """The statement and its positional arguments. `tsquery` is `querytext.tsquery_text`;
    `raw_query` the query text (for `trigram`)."""
    p = Params()
    cur = p(request.currency, "::text")
    source = "products p"
    where = ["p.status = 'active'"]
    raw = ""
    if match == "fulltext":
        source += f" CROSS JOIN to_tsquery('english', {p(tsquery)}) AS query"
        where.append("p.document @@ query")
    elif match == "trigram":
        raw = p(" ".join(raw_query.lower().split()))
        where.append(f"{raw} <% lower(p.name)")
    score = _score(request, match, p, raw)
    where += _filters(request, p, cur)
    limit = p(request.page_size, "::int")
    offset = p((request.page - 1) * request.page_size, "::int")
    order = _order(request)
    hit = (
        "json_build_object('product_id', p.product_id, 'slug', d.slug, 'name', p.name, "
        "'brand', p.brand, 'category_path', p.category_path, "
        f"'price', p.prices -> {cur}, 'in_stock', p.in_stock, 'image_url', d.image_url, "
        "'score', pg.score)"
    )
    columns = [
        "(SELECT count(*) FROM matched) AS total",
        f"(SELECT coalesce(json_agg({hit} ORDER BY pg.rn), '[]'::json) "  # nosec B608
        "FROM page pg JOIN products p ON p.product_id = pg.product_id "
        "JOIN product_details d ON d.product_id = pg.product_id) AS hits",
    ]
    for i, name in enumerate(request.facets):
        columns.append(f"{_facet(name, p, price_bounds or [0])} AS facet_{i}")
    sql = (
        f"WITH matched AS MATERIALIZED (SELECT {', '.join(_matched_columns(request, cur))}, "  # nosec B608
        f"{score} AS score FROM {source} WHERE {' AND '.join(where)}), "
        # the page is cut first (a bounded top-N sort), then numbered: numbering every match
        # would sort them all
        f"page AS (SELECT product_id, score, row_number() OVER (ORDER BY {order}) AS rn "
        f"FROM (SELECT * FROM matched ORDER BY {order} LIMIT {limit} OFFSET {offset}) cut) "
        f"SELECT {', '.join(columns)}"
    )
    return sql, p.values
