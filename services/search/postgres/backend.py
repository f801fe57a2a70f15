"""`PostgresBackend`: the `SearchBackend` on PostgreSQL full-text search and pg_trgm.

Search is one statement (see `sql.py`). When full text finds fewer than `min_fulltext_hits`
products, the query's unknown words are corrected from the index's lexicon (trigram
candidates ranked by edit distance) and the search runs again matching either the corrected
words or the whole query's trigram word-similarity to the product name, blending both scores.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg

from kommerce.money import exponent
from services.search import querytext
from services.search.backend import UnknownName
from services.search.models import (
    ATTRIBUTE_PREFIX,
    FIXED_FACETS,
    FacetValue,
    PriceRange,
    SearchDocument,
    SearchHit,
    SearchRequest,
    SearchResult,
    StockLevel,
    Suggestion,
    SynonymGroup,
)
from services.search.postgres import rows
from services.search.postgres.sql import Match, search_sql

# price facet bucket bounds in major units (scaled by the currency's exponent)
PRICE_BOUNDS = [0, 10, 25, 50, 100, 250, 500, 1000]
CORRECTION_SIMILARITY = 0.2
MAX_EDITS = 2

CORRECT = """
SELECT t.w, (SELECT l.word FROM lexicon l WHERE l.word % t.w
             ORDER BY levenshtein(l.word, t.w), similarity(l.word, t.w) DESC, l.word LIMIT 1)
FROM unnest($1::text[]) AS t(w)
WHERE NOT EXISTS (SELECT 1 FROM lexicon l WHERE l.word = t.w)
"""

# a tombstone keeps the version (a late older `product.changed` cannot bring it back); the
# details go
DELETE = """
WITH t AS (
  INSERT INTO products AS p (product_id, version, status, created_at, changed_at)
  VALUES ($1, $2, 'deleted', $3, $3)
  ON CONFLICT (product_id) DO UPDATE SET version = EXCLUDED.version, status = 'deleted',
    changed_at = EXCLUDED.changed_at, name = '', brand = NULL, category_path = '{}',
    category_ids = '{}', attr_pairs = '{}', document = ''
  WHERE p.version < EXCLUDED.version
  RETURNING product_id
), gone AS (DELETE FROM product_details d USING t WHERE d.product_id = t.product_id)
SELECT product_id FROM t
"""

SET_STOCK = """
INSERT INTO variant_stock AS v (variant_id, product_id, available, changed_at)
VALUES ($1, $2, $3, $4)
ON CONFLICT (variant_id) DO UPDATE SET available = EXCLUDED.available,
  product_id = coalesce(EXCLUDED.product_id, v.product_id), changed_at = EXCLUDED.changed_at
WHERE v.changed_at < EXCLUDED.changed_at
RETURNING variant_id
"""

REFRESH_STOCK = """
UPDATE products p SET available = t.total, in_stock = t.total > 0
FROM (SELECT d.product_id, (SELECT coalesce(sum(greatest(v.available, 0)), 0)::bigint
        FROM variant_stock v WHERE v.variant_id = ANY(d.variant_ids)) AS total
      FROM product_details d WHERE d.variant_ids @> ARRAY[$1]::text[]) t
WHERE p.product_id = t.product_id AND (p.available, p.in_stock) <> (t.total, t.total > 0)
"""

RENAME_CATEGORY = """
UPDATE products p SET
  category_ids = $2::text[] || p.category_ids[array_position(p.category_ids, $1) + 1:],
  category_path = $3::text[] || p.category_path[array_position(p.category_ids, $1) + 1:],
  document = search_document(p.name, p.brand,
    $3::text[] || p.category_path[array_position(p.category_ids, $1) + 1:],
    d.attributes_text, d.description)
FROM product_details d
WHERE d.product_id = p.product_id AND p.category_ids @> ARRAY[$1]::text[]
  AND (p.category_ids[1:array_position(p.category_ids, $1)] IS DISTINCT FROM $2::text[]
    OR p.category_path[1:array_position(p.category_ids, $1)] IS DISTINCT FROM $3::text[])
"""

SUGGEST = """
SELECT name, product_id, word_similarity($1, lower(name)) AS score
FROM products
WHERE status = 'active' AND (lower(name) LIKE $2 OR $1 <% lower(name))
ORDER BY (lower(name) LIKE $2) DESC, score DESC, in_stock DESC, name
LIMIT $3
"""


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


class PostgresBackend:
    def __init__(
        self,
        *,
        dsn: str,
        schema: str,
        pool_size: int = 10,
        min_fulltext_hits: int = 1,
        statement_timeout_ms: int = 10_000,
        work_mem: str = "32MB",
    ) -> None:
        self.dsn = dsn
        self.schema = schema
        self.pool_size = pool_size
        self.min_fulltext_hits = min_fulltext_hits
        self.statement_timeout_ms = statement_timeout_ms
        # Searches are short and many: JIT compilation (PostgreSQL compiles a query whose
        # estimate passes jit_above_cost, typically 50-200 ms) costs more than it saves, and
        # the materialised matches and their sorts should stay in memory.
        self.server_settings = {
            "search_path": f"{schema},public",
            "statement_timeout": str(statement_timeout_ms),
            "application_name": f"kommerce-{schema}-index",
            "jit": "off",
            "work_mem": work_mem,
        }
        self._pool: asyncpg.Pool | None = None
        self._synonyms: dict[querytext.Phrase, list[querytext.Phrase]] = {}
        self._attributes: set[str] = set()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("PostgresBackend.start() was not called")
        return self._pool

    async def start(self) -> None:
        if self._pool is None:
            self._pool = await asyncpg.create_pool(
                self.dsn,
                min_size=1,
                max_size=self.pool_size,
                server_settings=self.server_settings,
            )
        await self._load_attributes()

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    # -- writes ---------------------------------------------------------------------------

    async def index_documents(self, documents: Sequence[SearchDocument]) -> int:
        if not documents:
            return 0
        applied = 0
        async with self.pool.acquire() as conn, conn.transaction():
            for document in documents:
                if await conn.fetchval(rows.UPSERT, *rows.upsert_args(document)) is not None:
                    applied += 1
            await conn.execute(rows.ADD_WORDS, rows.lexicon_words(documents))
            names = rows.attribute_names(documents)
            await conn.execute(rows.ADD_ATTRIBUTES, names)
        self._attributes.update(names)
        return applied

    async def delete(self, product_id: str, version: int) -> bool:
        from datetime import UTC, datetime

        async with self.pool.acquire() as conn:
            done = await conn.fetchval(DELETE, product_id, version, datetime.now(UTC))
        return done is not None

    async def set_stock(self, levels: Sequence[StockLevel]) -> int:
        applied = 0
        async with self.pool.acquire() as conn, conn.transaction():
            for level in levels:
                changed = await conn.fetchval(
                    SET_STOCK, level.variant_id, level.product_id, level.available, level.changed_at
                )
                if changed is not None:
                    applied += 1
                    await conn.execute(REFRESH_STOCK, level.variant_id)
        return applied

    async def rename_category(
        self, category_id: str, path_ids: Sequence[str], path_names: Sequence[str]
    ) -> int:
        async with self.pool.acquire() as conn:
            status = await conn.execute(
                RENAME_CATEGORY, category_id, list(path_ids), list(path_names)
            )
        return int(status.split()[-1])

    async def clear(self) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(
                "TRUNCATE products, product_details, variant_stock, lexicon, attribute_names"
            )
        self._attributes.clear()

    async def set_synonyms(self, groups: Sequence[SynonymGroup]) -> None:
        self._synonyms = querytext.synonym_index(g.terms for g in groups)

    # -- reads ----------------------------------------------------------------------------

    async def _load_attributes(self) -> None:
        async with self.pool.acquire() as conn:
            names = await conn.fetch("SELECT name FROM attribute_names")
        self._attributes = {r["name"] for r in names}

    async def facet_names(self) -> list[str]:
        return [*FIXED_FACETS, *(ATTRIBUTE_PREFIX + a for a in sorted(self._attributes))]

    async def _check_names(self, request: SearchRequest) -> None:
        wanted_attrs = {
            f.removeprefix(ATTRIBUTE_PREFIX)
            for f in request.facets
            if f.startswith(ATTRIBUTE_PREFIX)
        } | set(request.filters.attributes)
        if wanted_attrs - self._attributes:  # maybe another replica indexed it: look again
            await self._load_attributes()
        valid = await self.facet_names()
        unknown = [f for f in request.facets if f not in valid]
        if unknown:
            raise UnknownName("facet", unknown, valid)
        bad_filters = sorted(set(request.filters.attributes) - self._attributes)
        if bad_filters:
            raise UnknownName("attribute filter", bad_filters, sorted(self._attributes))

    def price_bounds(self, currency: str) -> list[int]:
        try:
            scale = 10 ** exponent(currency)
        except ValueError:  # an unknown currency: assume two digits
            scale = 100
        return [b * scale for b in PRICE_BOUNDS]

    async def search(self, request: SearchRequest) -> SearchResult:
        """Strict full text; when it finds too little, typo tolerance: unknown words corrected
        from the lexicon and any word matching (ranked by how many match); when that finds
        nothing either, the query's trigram word similarity to product names."""
        await self._check_names(request)
        positions = querytext.expand(request.q, self._synonyms)
        bounds = self.price_bounds(request.currency)
        async with self.pool.acquire() as conn:
            if not positions:
                row = await self._run(conn, request, "all", "", bounds)
                return self._result(request, row, "all", None, bounds)
            tsq = querytext.tsquery_text(positions)
            row = await self._run(conn, request, "fulltext", tsq, bounds)
            if row["total"] >= self.min_fulltext_hits:
                return self._result(request, row, "fulltext", None, bounds)
            async with conn.transaction():
                await conn.execute(
                    "SELECT set_config('pg_trgm.similarity_threshold', $1, true), "
                    "set_config('pg_trgm.word_similarity_threshold', $2, true)",
                    str(CORRECTION_SIMILARITY),
                    str(request.ranking.trigram_threshold),
                )
                corrections = await self._corrections(conn, querytext.single_words(positions))
                relaxed = querytext.with_corrections(positions, corrections)
                relaxed_tsq = querytext.tsquery_text(relaxed, any_position=True)
                if relaxed_tsq != tsq:
                    row = await self._run(conn, request, "fulltext", relaxed_tsq, bounds)
                if row["total"] == 0:
                    row = await self._run(conn, request, "trigram", "", bounds)
        corrected = None
        if corrections:
            corrected = " ".join(corrections.get(w, w) for w in querytext.words(request.q))
        return self._result(request, row, "fuzzy", corrected, bounds)

    async def _corrections(self, conn: Any, terms: list[str]) -> dict[str, str]:
        if not terms:
            return {}
        found = await conn.fetch(CORRECT, terms)
        out = {}
        for r in found:
            word = r[1]
            if word is not None and _close(r[0], word):
                out[r[0]] = word
        return out

    async def _run(
        self, conn: Any, request: SearchRequest, match: Match, tsq: str, bounds: list[int]
    ) -> Any:
        sql, args = search_sql(
            request, match=match, tsquery=tsq, raw_query=request.q, price_bounds=bounds
        )
        return await conn.fetchrow(sql, *args)

    def _result(
        self,
        request: SearchRequest,
        row: Any,
        matched_by: Any,
        corrected: str | None,
        bounds: list[int],
    ) -> SearchResult:
        hits = [
            SearchHit(
                product_id=h["product_id"],
                slug=h["slug"],
                name=h["name"],
                brand=h["brand"],
                category_path=h["category_path"],
                price=PriceRange(**h["price"]) if h["price"] else None,
                in_stock=h["in_stock"],
                image_url=h["image_url"],
                score=float(h["score"]),
            )
            for h in json.loads(row["hits"])
        ]
        facets = {
            name: _facet_values(name, json.loads(row[f"facet_{i}"]), bounds)
            for i, name in enumerate(request.facets)
        }
        return SearchResult(
            total=row["total"],
            hits=hits,
            facets=facets,
            matched_by=matched_by,
            corrected_query=corrected,
        )

    async def suggest(self, prefix: str, *, limit: int = 10) -> list[Suggestion]:
        text = " ".join(prefix.lower().split())
        if not text:
            return []
        async with self.pool.acquire() as conn:
            found = await conn.fetch(SUGGEST, text, _like_prefix(text), limit)
        return [
            Suggestion(text=r["name"], kind="product", product_id=r["product_id"], score=r["score"])
            for r in found
        ]


def _close(word: str, candidate: str) -> bool:
    """Accept a correction within MAX_EDITS (1 for short words) — a cheap Levenshtein."""
    limit = 1 if len(word) <= 4 else MAX_EDITS
    return _edits(word, candidate) <= limit


def _edits(a: str, b: str) -> int:
    """Optimal string alignment distance: a transposition counts as one edit."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def _facet_values(name: str, raw: list[list[Any]], bounds: list[int]) -> list[FacetValue]:
    if name != "price":
        return [FacetValue(value=str(v), label=str(lab), count=n) for v, lab, n in raw]
    out = []
    for bucket, _, n in raw:
        i = int(bucket)
        low = bounds[i - 1] if i >= 1 else 0
        high = bounds[i] if i < len(bounds) else None
        value = f"{low}-{high}" if high is not None else f"{low}-"
        out.append(FacetValue(value=value, label=value, count=n))
    return out
