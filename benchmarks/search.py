"""Benchmark: search latency through the search service against the same SQL run raw.

Loads N products (default 100,000) from the seeded catalogue generator
(`services.product.generator.generate(count, seed)`) straight into the PostgreSQL index with
COPY (not through Kafka), then runs a realistic mix of queries — single and multi-word queries,
typos (the fuzzy path), filters (category subtree, brand, price, in stock, attributes), facets
(brand, category, price, attribute counts), sort orders and pages — two ways, interleaved:

1. `GET /v1/search` through the real app in-process over ASGI (validation, ranking choice,
   personalisation lookup skipped for anonymous callers, the backend, analytics recording,
   the JSON response);
2. the baseline: the very statements the PostgreSQL backend runs for that query (built by
   `services.search.postgres.sql.search_sql`: the full-text statement and, when it finds
   nothing, the correction lookup and the fuzzy statement), sent with asyncpg.

Prints p50/p95/p99 of both, the ratio (goal <= 1.5) and whether p95 < 50 ms, overall and per
kind of query. Starts its own PostgreSQL (state `bench-search`, port offset 1350) and stops it.

    .venv/bin/python -m benchmarks.search [--products 100000] [--queries 400] [--seed 42]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.common import bench_servers, quantile, say

NAMESPACE = uuid.UUID("6f1d7a52-5c1e-4a0e-9a53-6d1f3b7c2e10")
# COPY goes to a staging table; products (narrow, with the tsvector the indexer computes) and
# product_details are filled from it by INSERT ... SELECT
STAGING = """
CREATE TEMP TABLE staging (
  product_id text, version bigint, status text, slug text, name text, description text,
  brand text, category_id text, category_ids text[], category_path text[], attributes jsonb,
  attr_pairs text[], attributes_text text, variant_ids text[], skus text[], prices jsonb,
  available bigint, in_stock boolean, created_at timestamptz, changed_at timestamptz)
"""
COLUMNS = (
    "product_id",
    "version",
    "status",
    "slug",
    "name",
    "description",
    "brand",
    "category_id",
    "category_ids",
    "category_path",
    "attributes",
    "attr_pairs",
    "attributes_text",
    "variant_ids",
    "skus",
    "prices",
    "available",
    "in_stock",
    "created_at",
    "changed_at",
)
FROM_STAGING = (
    """
INSERT INTO products (product_id, version, status, name, brand, category_ids, category_path,
  attr_pairs, prices, available, in_stock, created_at, changed_at, document)
SELECT product_id, version, status, name, brand, category_ids, category_path, attr_pairs, prices,
  available, in_stock, created_at, changed_at,
  search_document(name, brand, category_path, attributes_text, description)
FROM staging
""",
    """
INSERT INTO product_details (product_id, slug, description, category_id, attributes,
  attributes_text, variant_ids, skus)
SELECT product_id, slug, description, category_id, attributes, attributes_text, variant_ids, skus
FROM staging
""",
    "TRUNCATE staging",
)


def category_ids(path: list[str]) -> list[str]:
    return [str(uuid.uuid5(NAMESPACE, "/".join(path[: i + 1]))) for i in range(len(path))]


def document(index: int, product: dict[str, Any], now: datetime) -> Any:
    """The generator's import document as the index's SearchDocument (ids derived from slugs)."""
    from services.search.models import PriceRange, SearchDocument

    attributes: dict[str, set[str]] = {k: {v} for k, v in product["attributes"].items()}
    prices: dict[str, PriceRange] = {}
    for v in product["variants"]:
        for k, value in v["attributes"].items():
            attributes.setdefault(k, set()).add(value)
        amount, currency = v["price"]["amount"], v["price"]["currency"]
        known = prices.get(currency)
        prices[currency] = PriceRange(
            min=min(amount, known.min) if known else amount,
            max=max(amount, known.max) if known else amount,
        )
    ids = category_ids(product["category"])
    return SearchDocument(
        product_id=str(uuid.uuid5(NAMESPACE, product["slug"])),
        version=1,
        slug=product["slug"],
        name=product["name"],
        description=product["description"],
        status=product["status"],
        brand=product["brand"],
        category_id=ids[-1],
        category_ids=ids,
        category_path=product["category"],
        attributes={k: sorted(v) for k, v in attributes.items()},
        variant_ids=[str(uuid.uuid5(NAMESPACE, v["sku"])) for v in product["variants"]],
        skus=[v["sku"] for v in product["variants"]],
        prices=prices,
        changed_at=now - timedelta(minutes=index),
    )


def record(doc: Any, rng: random.Random) -> tuple[Any, ...]:
    from services.search.postgres.rows import attr_pairs

    available = rng.choice((0, 0, 3, 10, 50))  # about 40 % out of stock
    return (
        doc.product_id,
        doc.version,
        doc.status,
        doc.slug,
        doc.name,
        doc.description,
        doc.brand,
        doc.category_id,
        doc.category_ids,
        doc.category_path,
        json.dumps(doc.attributes),
        attr_pairs(doc),
        " ".join(v for vs in doc.attributes.values() for v in vs),
        doc.variant_ids,
        doc.skus,
        json.dumps({c: r.model_dump() for c, r in doc.prices.items()}),
        available,
        available > 0,
        doc.changed_at,
        doc.changed_at,
    )


async def load(dsn: str, schema: str, count: int, seed: int) -> dict[str, Any]:
    """COPY the catalogue into the index; returns what the query mix is drawn from."""
    import asyncpg

    from services.product.generator import generate
    from services.search.postgres.rows import attribute_names, lexicon_words

    rng = random.Random(seed)  # noqa: S311  # nosec B311: benchmark data
    now = datetime.now(UTC)
    conn = await asyncpg.connect(dsn, server_settings={"search_path": f"{schema},public"})
    seen: dict[str, Any] = {"brands": set(), "categories": {}, "nouns": set(), "colours": set()}
    started = time.perf_counter()
    await conn.execute(STAGING)
    batch: list[Any] = []

    async def flush() -> None:
        await conn.copy_records_to_table(
            "staging", records=[record(d, rng) for d in batch], columns=COLUMNS
        )
        for statement in FROM_STAGING:
            await conn.execute(statement)
        await conn.execute(
            "INSERT INTO lexicon (word) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING",
            lexicon_words(batch),
        )
        await conn.execute(
            "INSERT INTO attribute_names (name) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING",
            attribute_names(batch),
        )
        batch.clear()

    for i, product in enumerate(generate(count, seed)):
        doc = document(i, product, now)
        batch.append(doc)
        seen["brands"].add(doc.brand)
        for cid, name in zip(doc.category_ids, doc.category_path, strict=True):
            seen["categories"][cid] = name
        seen["nouns"].add(product["name"].split()[-1].lower())
        seen["colours"].update(doc.attributes.get("colour", []))
        if len(batch) == 2000:
            await flush()
            if (i + 1) % 20_000 == 0:
                say(f"  loaded {i + 1:,} products ({time.perf_counter() - started:.0f} s)")
    if batch:
        await flush()
    await conn.execute("ANALYZE")
    total = await conn.fetchval("SELECT count(*) FROM products")
    say(f"loaded {total:,} products in {time.perf_counter() - started:.0f} s (COPY + ANALYZE)")
    sizes = await conn.fetchrow(
        "SELECT pg_size_pretty(pg_table_size('products')) AS hot, "
        "pg_size_pretty(pg_indexes_size('products')) AS hot_indexes, "
        "pg_size_pretty(pg_table_size('product_details')) AS details, "
        "current_setting('shared_buffers') AS shared_buffers"
    )
    say(
        f"products {sizes['hot']} (+ indexes {sizes['hot_indexes']}), product_details "
        f"{sizes['details']}; shared_buffers {sizes['shared_buffers']}"
    )
    await conn.close()
    return seen


def typo(word: str, rng: random.Random) -> str:
    if len(word) < 5:
        return word
    i = rng.randrange(1, len(word) - 2)
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]  # swap two letters


def query_mix(seen: dict[str, Any], n: int, seed: int) -> Iterator[tuple[str, dict[str, Any]]]:
    rng = random.Random(seed)  # noqa: S311  # nosec B311: benchmark queries
    nouns = sorted(w for w in seen["nouns"] if len(w) >= 4)
    brands = sorted(seen["brands"])
    cats = sorted(seen["categories"])
    colours = sorted(seen["colours"])
    words = ["shirt", "laptop", "running shoe", "coffee machine", "lamp", "jacket", "tent", "mug"]
    for _ in range(n):
        kind = rng.choice(("word", "words", "typo", "filtered", "faceted", "browse"))
        q = rng.choice(words + nouns)
        params: dict[str, Any] = {"q": q}
        if kind == "words":
            params["q"] = f"{rng.choice(brands).split()[0]} {q}"
        elif kind == "typo":
            params["q"] = typo(rng.choice(nouns), rng)
        elif kind == "filtered":
            params.update(category=rng.choice(cats), in_stock="true", sort="price_asc")
            if rng.random() < 0.5:
                params.update(min_price=1000, max_price=20000)
        elif kind == "faceted":
            params["facets"] = "brand,category,price,in_stock,attr.colour"
            if rng.random() < 0.5:
                params["attr"] = f"colour:{rng.choice(colours)}"
        elif kind == "browse":
            params = {
                "category": rng.choice(cats),
                "facets": "brand,price",
                "sort": "newest",
                "page": rng.randint(1, 3),
            }
        yield kind, params


async def raw_search(conn: Any, backend: Any, params: dict[str, Any]) -> int:
    """What the backend sends for these parameters, sent straight with asyncpg."""
    from services.search import querytext
    from services.search.models import Filters, SearchRequest
    from services.search.postgres.backend import CORRECT, CORRECTION_SIMILARITY, _close
    from services.search.postgres.sql import search_sql

    attributes: dict[str, list[str]] = {}
    if "attr" in params:
        name, _, value = params["attr"].partition(":")
        attributes[name] = [value]
    request = SearchRequest(
        q=params.get("q", ""),
        filters=Filters(
            category=params.get("category"),
            min_price=params.get("min_price"),
            max_price=params.get("max_price"),
            in_stock={"true": True}.get(params.get("in_stock", "")),
            attributes=attributes,
        ),
        facets=[f for f in params.get("facets", "").split(",") if f],
        sort=params.get("sort", "relevance"),
        page=params.get("page", 1),
        ranking=backend._tuning_default,
    )
    bounds = backend.price_bounds(request.currency)
    positions = querytext.expand(request.q, {})
    if not positions:
        sql, args = search_sql(request, match="all", price_bounds=bounds)
        return int((await conn.fetchrow(sql, *args))["total"])
    sql, args = search_sql(
        request, match="fulltext", tsquery=querytext.tsquery_text(positions), price_bounds=bounds
    )
    total = int((await conn.fetchrow(sql, *args))["total"])
    if total > 0:
        return total
    async with conn.transaction():
        await conn.execute(
            "SELECT set_config('pg_trgm.similarity_threshold', $1, true), "
            "set_config('pg_trgm.word_similarity_threshold', $2, true)",
            str(CORRECTION_SIMILARITY),
            str(request.ranking.trigram_threshold),
        )
        found = await conn.fetch(CORRECT, querytext.single_words(positions))
        corrections = {r[0]: r[1] for r in found if r[1] and _close(r[0], r[1])}
        relaxed = querytext.with_corrections(positions, corrections)
        sql, args = search_sql(
            request,
            match="fulltext",
            tsquery=querytext.tsquery_text(relaxed, any_position=True),
            price_bounds=bounds,
        )
        total = int((await conn.fetchrow(sql, *args))["total"])
        if total == 0:
            sql, args = search_sql(
                request, match="trigram", raw_query=request.q, price_bounds=bounds
            )
            total = int((await conn.fetchrow(sql, *args))["total"])
        return total


def report(label: str, service: list[float], raw: list[float]) -> None:
    s = [quantile(service, q) * 1000 for q in (0.5, 0.95, 0.99)]
    r = [quantile(raw, q) * 1000 for q in (0.5, 0.95, 0.99)]
    say(
        f"{label:<9} n={len(service):>4}  "
        f"service p50/p95/p99 {s[0]:6.1f} {s[1]:6.1f} {s[2]:6.1f} ms  "
        f"raw SQL {r[0]:6.1f} {r[1]:6.1f} {r[2]:6.1f} ms  "
        f"ratio p50 {s[0] / r[0]:.2f} p95 {s[1] / r[1]:.2f} p99 {s[2] / r[2]:.2f}"
    )


async def run(products: int, queries: int, seed: int) -> None:
    import asyncpg
    import httpx

    from services.search.app import create_app
    from services.search.models import RankingConfig
    from services.search.settings import SearchSettings
    from tests.tokens import TokenMinter

    schema = f"bench_search_{uuid.uuid4().hex[:6]}"
    settings = SearchSettings(
        environment="test", schema_name=schema, consume_events=False, log_level="WARNING"
    )
    app = create_app(settings, auth=TokenMinter().authenticator())
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()  # migrates the schema
    dsn = str(settings.database_url)
    try:
        seen = await load(dsn, schema, products, seed)
        backend = app.state.ctx.backend
        await backend.start()  # reload the attribute names the COPY added
        backend._tuning_default = RankingConfig()
        # the baseline's session has the backend's settings (search_path, jit off, work_mem)
        conn = await asyncpg.connect(dsn, server_settings=backend.server_settings)
        mix = list(query_mix(seen, queries, seed))
        transport = httpx.ASGITransport(app=app)
        by_kind: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
        async with httpx.AsyncClient(transport=transport, base_url="http://search.bench") as client:
            say(f"warming up ({min(50, len(mix))} queries each way) ...")
            for _, params in mix[:50]:
                await client.get("/v1/search", params=params)
                await raw_search(conn, backend, params)
            say(f"measuring {len(mix)} queries each way, interleaved, one at a time ...")
            for kind, params in mix:
                t0 = time.perf_counter()
                r = await client.get("/v1/search", params=params)
                t1 = time.perf_counter()
                total = await raw_search(conn, backend, params)
                t2 = time.perf_counter()
                assert r.status_code == 200, r.text
                assert r.json()["total"] == total, (params, r.json()["total"], total)
                by_kind[kind][0].append(t1 - t0)
                by_kind[kind][1].append(t2 - t1)
        await conn.close()
        all_service = [x for s, _ in by_kind.values() for x in s]
        all_raw = [x for _, r in by_kind.values() for x in r]
        say("")
        for kind in sorted(by_kind):
            report(kind, *by_kind[kind])
        report("all", all_service, all_raw)
        p95 = quantile(all_service, 0.95) * 1000
        ratio = quantile(all_service, 0.95) / quantile(all_raw, 0.95)
        say(f"\nload average during the run: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        say(
            f"goals: ratio p95 {ratio:.2f} (<= 1.5: {'met' if ratio <= 1.5 else 'MISSED'}); "
            f"service p95 {p95:.1f} ms (< 50 ms: {'met' if p95 < 50 else 'MISSED'})"
        )
    finally:
        await lifespan.__aexit__(None, None, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    with bench_servers("bench-search", port_offset=1350, servers=["postgres"]):
        asyncio.run(run(args.products, args.queries, args.seed))


if __name__ == "__main__":
    main()
