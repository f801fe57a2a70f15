"""Export the catalogue as JSON Lines or CSV, streamed in constant memory.

Products are read in pages ordered by slug (keyset pagination: `WHERE slug > :last ORDER BY slug
LIMIT n`), each page with two more queries (variants, brands); no transaction stays open between
pages and memory holds one page. Each product is written as the import document
(`ProductIn`-shaped), so an export imported into an empty schema reproduces the catalogue.

CSV format (the one `importer` reads): one row per variant, the product's columns repeated on each
of its rows; a product without variants is one row with empty variant columns. Columns:

    slug, name, description, status, brand, category, attributes, seo,
    sku, variant_name, variant_attributes, price, currency, weight_grams

- `category`: the path from the root joined with " > " (`Clothing > Men > Shirts`), or a JSON
  array when a name itself contains ">".
- `attributes`, `seo`, `variant_attributes`: `key=value` pairs joined with ";"
  (`size=M;colour=blue`), or a JSON object (starting with "{") when a key or value contains
  ";", "=" or leading/trailing spaces, or a value starts with "{".
- `price`: the amount in major units as a decimal (`39.99` EUR, `4980` JPY) and `currency` its
  ISO 4217 code; more decimals than the currency has is an error on import.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.data.db import Database
from kommerce.money import Money
from services.product.tables import BRANDS, CATEGORIES, PRODUCTS, VARIANTS

Format = Literal["jsonl", "csv"]
PRODUCT_COLUMNS = (
    "slug",
    "name",
    "description",
    "status",
    "brand",
    "category",
    "attributes",
    "seo",
)
VARIANT_COLUMNS = ("sku", "variant_name", "variant_attributes", "price", "currency", "weight_grams")
CSV_COLUMNS = PRODUCT_COLUMNS + VARIANT_COLUMNS
CATEGORY_SEPARATOR = " > "
PAGE_SIZE = 500
MEDIA_TYPES: dict[Format, str] = {
    "jsonl": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
}


# --- documents -> text ---------------------------------------------------------------------


def format_pairs(values: Mapping[str, str]) -> str:
    """`k=v;k=v`, or a JSON object when that form could not be read back unchanged."""
    if not values:
        return ""

    def plain(text: str) -> bool:
        return text == text.strip() and not any(c in text for c in ";=\n\r")

    if all(plain(k) and k and plain(v) for k, v in values.items()) and not any(
        v.startswith("{") for v in values.values()
    ):
        text = ";".join(f"{k}={v}" for k, v in values.items())
        if not text.startswith("{"):
            return text
    return json.dumps(dict(values), ensure_ascii=False, separators=(",", ":"))


def format_category(path: Sequence[str]) -> str:
    if any(">" in name or name != name.strip() for name in path) or (
        path and path[0].startswith("[")
    ):
        return json.dumps(list(path), ensure_ascii=False)
    return CATEGORY_SEPARATOR.join(path)


def major_units(amount: int, currency: str) -> str:
    return f"{Money(amount=amount, currency=currency).decimal():f}"


def csv_rows(doc: Mapping[str, Any]) -> list[list[str]]:
    """A product document as CSV rows (one per variant), in `CSV_COLUMNS` order."""
    product = [
        doc["slug"],
        doc["name"],
        doc.get("description", ""),
        doc.get("status", "draft"),
        doc.get("brand") or "",
        format_category(doc.get("category", [])),
        format_pairs(doc.get("attributes", {})),
        format_pairs(doc.get("seo", {})),
    ]
    variants = doc.get("variants", [])
    if not variants:
        return [product + [""] * len(VARIANT_COLUMNS)]
    rows = []
    for v in variants:
        price = v["price"]
        weight = v.get("weight_grams")
        rows.append(
            [
                *product,
                v["sku"],
                v.get("name", ""),
                format_pairs(v.get("attributes", {})),
                major_units(price["amount"], price["currency"]),
                price["currency"],
                "" if weight is None else str(weight),
            ]
        )
    return rows


def jsonl_line(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n"


def encode(docs: Iterable[Mapping[str, Any]], fmt: Format, *, header: bool = True) -> Iterator[str]:
    """Documents as text chunks of `fmt` (CSV: the header first, when asked)."""
    if fmt == "jsonl":
        for doc in docs:
            yield jsonl_line(doc)
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(CSV_COLUMNS)
    for doc in docs:
        writer.writerows(csv_rows(doc))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


# --- the database -> documents ---------------------------------------------------------------


async def _category_paths(session: AsyncSession) -> dict[uuid.UUID, list[str]]:
    """Every category -> its names from the root (categories are few next to products)."""
    rows = (
        await session.execute(select(CATEGORIES.c.id, CATEGORIES.c.parent_id, CATEGORIES.c.name))
    ).all()
    parent = {r.id: r.parent_id for r in rows}
    name = {r.id: r.name for r in rows}
    paths: dict[uuid.UUID, list[str]] = {}

    def path_of(category_id: uuid.UUID) -> list[str]:
        if category_id not in paths:
            up = parent[category_id]
            paths[category_id] = ([*path_of(up)] if up is not None else []) + [name[category_id]]
        return paths[category_id]

    for category_id in parent:
        path_of(category_id)
    return paths


async def _page(
    session: AsyncSession, after: str | None, limit: int, paths: dict[uuid.UUID, list[str]]
) -> list[dict[str, Any]]:
    query = (
        select(
            PRODUCTS.c.id,
            PRODUCTS.c.slug,
            PRODUCTS.c.name,
            PRODUCTS.c.status,
            PRODUCTS.c.category_id,
            PRODUCTS.c.document,
            BRANDS.c.name.label("brand"),
        )
        .outerjoin(BRANDS, BRANDS.c.id == PRODUCTS.c.brand_id)
        .where(PRODUCTS.c.version > 0)  # a version-0 row is a slug claimed mid-transaction
        .order_by(PRODUCTS.c.slug)
        .limit(limit)
    )
    if after is not None:
        query = query.where(PRODUCTS.c.slug > after)
    products = (await session.execute(query)).all()
    if not products:
        return []
    if any(p.category_id is not None and p.category_id not in paths for p in products):
        paths.update(await _category_paths(session))  # created since the export started
    variants: dict[uuid.UUID, list[dict[str, Any]]] = {p.id: [] for p in products}
    rows = await session.execute(
        select(VARIANTS)
        .where(VARIANTS.c.product_id.in_(list(variants)))
        .order_by(VARIANTS.c.product_id, VARIANTS.c.position, VARIANTS.c.sku)
    )
    for v in rows:
        variants[v.product_id].append(
            {
                "sku": v.sku,
                "name": v.name,
                "attributes": v.attributes,
                "price": {"amount": v.price_amount, "currency": v.currency},
                "weight_grams": v.weight_grams,
            }
        )
    docs = []
    for p in products:
        document: dict[str, Any] = p.document or {}
        doc: dict[str, Any] = {
            "slug": p.slug,
            "name": p.name,
            "description": document.get("description", ""),
            "status": p.status,
            "brand": p.brand,
            "category": paths[p.category_id] if p.category_id else [],
            "attributes": document.get("attributes", {}),
        }
        if document.get("seo"):
            doc["seo"] = document["seo"]
        doc["variants"] = variants[p.id]
        docs.append(doc)
    return docs


async def documents(db: Database, *, page_size: int = PAGE_SIZE) -> AsyncIterator[dict[str, Any]]:
    """Every product as an import document, in slug order, one page in memory at a time."""
    async with db.session() as session:
        paths = await _category_paths(session)
    after: str | None = None
    while True:
        async with db.session() as session:
            page = await _page(session, after, page_size, paths)
        if not page:
            return
        for doc in page:
            yield doc
        after = page[-1]["slug"]


async def stream(db: Database, fmt: Format) -> AsyncIterator[bytes]:
    """The export as encoded chunks (one page per chunk), for a StreamingResponse or a file."""
    if fmt == "csv":
        yield "".join(encode([], "csv")).encode()
    page: list[dict[str, Any]] = []
    async for doc in documents(db):
        page.append(doc)
        if len(page) >= PAGE_SIZE:
            yield "".join(encode(page, fmt, header=False)).encode()
            page = []
    if page:
        yield "".join(encode(page, fmt, header=False)).encode()
