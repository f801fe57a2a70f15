"""Bulk import of product documents from JSON Lines or CSV: streamed, batched, resumable by re-run.

Reading (`read_jsonl`, `read_csv`) turns a file into `Parsed` products with their line numbers,
one at a time (the file is never held in memory); `validate` checks each against `ProductIn`.
`run` writes valid products in batches, one transaction per batch and a savepoint per product,
through `catalog.upsert_by_slug`: a row that fails (invalid, a SKU owned by another product, an
attribute value not allowed) is recorded as a row error and never rolls back the good rows, and
an unchanged product is a no-op, so importing the same file twice changes nothing the second time.
Each batch also updates the job's counts in `import_jobs` (same transaction, so the counts always
match what is committed) and stores its row errors in `import_errors`.

The CSV format is described in `services.product.exporter` (which writes it).
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import IO, Any

from pydantic import ValidationError
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.data.db import Database
from kommerce.http.errors import Problem
from services.product import brands, categories
from services.product.catalog import upsert_by_slug
from services.product.documents import ProductIn
from services.product.exporter import CATEGORY_SEPARATOR, CSV_COLUMNS, Format
from services.product.tables import IMPORT_ERRORS, IMPORT_JOBS

BATCH_SIZE = 100
WORKERS = 3  # batches written in parallel (each its own connection)
REQUIRED_COLUMNS = ("slug", "name")
_SLUG_IN_TEXT = re.compile(r'"slug"\s*:\s*"([^"\\]{1,200})"')


class ImportFileError(ValueError):
    """The file as a whole cannot be read (not UTF-8, no CSV header, ...): the job fails."""


@dataclass(frozen=True)
class RowError:
    line: int
    slug: str = ""
    sku: str = ""
    field: str = ""
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The error with NULs removed (PostgreSQL text cannot hold them) and bounded sizes."""
        return {
            k: v.replace("\x00", "")[:2000] if isinstance(v, str) else v
            for k, v in asdict(self).items()
        }


@dataclass
class Parsed:
    """One product read from the file, before validation."""

    line: int
    doc: dict[str, Any] | None
    errors: list[RowError] = field(default_factory=list)
    variant_lines: list[int] = field(default_factory=list)  # CSV: the row of each variant
    columns: bool = False  # CSV: name fields by their column

    @property
    def slug(self) -> str:
        return str(self.doc.get("slug", "")) if self.doc else ""


@dataclass
class Counts:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    bytes_done: int = 0
    bytes_total: int | None = None
    seconds: float = 0.0

    def add(self, other: Counts) -> None:
        self.rows += other.rows
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.failed += other.failed
        self.bytes_done = max(self.bytes_done, other.bytes_done)

    @property
    def rate(self) -> float:
        """Products per second so far."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0


# --- reading ---------------------------------------------------------------------------------


def read_jsonl(lines: Iterable[bytes]) -> Iterator[Parsed]:
    """One product per non-empty line; a line that is not a JSON object is a row error."""
    for number, raw in enumerate(lines, 1):
        if number == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield Parsed(number, None, [RowError(number, message=f"not UTF-8 text: {exc.reason}")])
            continue
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            found = _SLUG_IN_TEXT.search(text)
            message = f"not valid JSON: {exc.msg} (column {exc.colno})"
            yield Parsed(
                number, None, [RowError(number, found[1] if found else "", "", "", message)]
            )
            continue
        if not isinstance(doc, dict):
            yield Parsed(number, None, [RowError(number, message="a line must be a JSON object")])
            continue
        yield Parsed(number, doc)


def parse_pairs(text: str) -> dict[str, str]:
    """`k=v;k=v` or a JSON object of strings (see the CSV format in `exporter`)."""
    text = text.strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not a valid JSON object: {exc.msg}") from exc
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ValueError("a JSON object of string values is expected")
        return value
    pairs: dict[str, str] = {}
    for item in text.split(";"):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{item!r} is not key=value")
        pairs[key.strip()] = value.strip()
    return pairs


def parse_category(text: str) -> list[str]:
    text = text.strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not a valid JSON array: {exc.msg}") from exc
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("a JSON array of category names is expected")
        return value
    return [name.strip() for name in text.split(CATEGORY_SEPARATOR.strip())]


class _CsvProduct:
    """The rows of one product (consecutive rows with the same slug)."""

    def __init__(self, line: int, record: dict[str, str]) -> None:
        self.line = line
        self.first = record
        self.errors: list[RowError] = []
        self.variants: list[dict[str, Any]] = []
        self.variant_lines: list[int] = []
        self.bare_lines: list[int] = []  # rows without a sku
        self.doc: dict[str, Any] = {"slug": record.get("slug", "").strip()}
        slug = self.doc["slug"]
        for column in ("name", "description", "status"):
            if column in record and (record[column] or column != "status"):
                self.doc[column] = record[column]
        if "brand" in record:
            self.doc["brand"] = record["brand"] or None
        for column, parse, key in (
            ("category", parse_category, "category"),
            ("attributes", parse_pairs, "attributes"),
            ("seo", parse_pairs, "seo"),
        ):
            if column in record:
                try:
                    self.doc[key] = parse(record[column])
                except ValueError as exc:
                    self.errors.append(RowError(line, slug, "", column, str(exc)))
        self.add(line, record)

    def add(self, line: int, record: dict[str, str]) -> None:
        slug = self.doc["slug"]
        for column in ("name", "description", "status", "brand", "category", "attributes", "seo"):
            if record.get(column, "") != self.first.get(column, ""):
                self.errors.append(
                    RowError(line, slug, record.get("sku", ""), column,
                             f"differs from the product's first row (line {self.line}); "
                             "repeat the product's columns unchanged on each variant row")
                )  # fmt: skip
        sku = record.get("sku", "").strip()
        if not sku:
            self.bare_lines.append(line)
            return
        variant: dict[str, Any] = {"sku": sku}
        if "variant_name" in record:
            variant["name"] = record["variant_name"]
        try:
            variant["attributes"] = parse_pairs(record.get("variant_attributes", ""))
        except ValueError as exc:
            self.errors.append(RowError(line, slug, sku, "variant_attributes", str(exc)))
        variant["price"] = {"major": record.get("price", "").strip(),
                            "currency": record.get("currency", "").strip()}  # fmt: skip
        weight = record.get("weight_grams", "").strip()
        if weight:
            try:
                variant["weight_grams"] = int(weight)
            except ValueError:
                self.errors.append(RowError(line, slug, sku, "weight_grams", "not a whole number"))
        self.variants.append(variant)
        self.variant_lines.append(line)

    def parsed(self) -> Parsed:
        if self.bare_lines and (self.variants or len(self.bare_lines) > 1):
            slug = self.doc["slug"]
            for line in self.bare_lines:
                self.errors.append(RowError(line, slug, "", "sku", "a variant row needs a sku"))
        self.doc["variants"] = self.variants
        if self.errors:
            self.errors.sort(key=lambda e: e.line)
            return Parsed(self.line, None, self.errors, self.variant_lines, columns=True)
        return Parsed(self.line, self.doc, [], self.variant_lines, columns=True)


def read_csv(lines: Iterable[str]) -> Iterator[Parsed]:
    """Products from CSV text (a header row, then one row per variant; see `exporter`)."""
    reader = csv.reader(lines)
    try:
        header = [name.strip().lstrip("\ufeff") for name in next(reader)]
    except StopIteration:
        return
    except csv.Error as exc:
        raise ImportFileError(f"line 1: {exc}") from exc
    unknown = [c for c in header if c not in CSV_COLUMNS]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if unknown or missing or len(set(header)) != len(header):
        raise ImportFileError(
            f"the CSV header must name columns of {', '.join(CSV_COLUMNS)} once each "
            f"(slug and name required); unknown: {unknown}, missing: {missing}"
        )
    current: _CsvProduct | None = None
    end = 1
    while True:
        start = end + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            end = reader.line_num
            yield Parsed(
                start, None, [RowError(start, message=f"not valid CSV: {exc}")], columns=True
            )
            continue
        end = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            message = f"{len(row)} columns where the header has {len(header)}"
            error = RowError(start, row[0] if row else "", "", "", message)
            yield Parsed(start, None, [error], columns=True)
            continue
        record = dict(zip(header, row, strict=True))
        if current is not None and record["slug"].strip() == current.doc["slug"]:
            current.add(start, record)
            continue
        if current is not None:
            yield current.parsed()
        current = _CsvProduct(start, record)
    if current is not None:
        yield current.parsed()


def read(source: IO[bytes], fmt: Format) -> Iterator[Parsed]:
    if fmt == "jsonl":
        return read_jsonl(source)
    text = io.TextIOWrapper(source, encoding="utf-8-sig", newline="")
    return _checked_utf8(read_csv(text))


def _checked_utf8(parsed: Iterator[Parsed]) -> Iterator[Parsed]:
    try:
        yield from parsed
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"the file is not UTF-8 text: {exc.reason}") from exc


# --- validating ------------------------------------------------------------------------------

_VARIANT_COLUMN = {"name": "variant_name", "attributes": "variant_attributes"}


def _field_name(loc: tuple[int | str, ...], csv_columns: bool, message: str) -> str:
    if not csv_columns:
        return ".".join(str(part) for part in loc)
    if len(loc) >= 3 and loc[0] == "variants":
        name = str(loc[2])
        if name == "price":
            currency = "currency" in loc[3:] or "ISO 4217" in message
            return "currency" if currency else "price"
        return _VARIANT_COLUMN.get(name, name)
    return str(loc[0]) if loc else ""


def validate(parsed: Parsed) -> ProductIn | list[RowError]:
    """The product, or its row errors (line, slug, sku, field, message)."""
    if parsed.doc is None:
        return parsed.errors
    try:
        return ProductIn.model_validate(parsed.doc)
    except ValidationError as exc:
        errors = []
        variants = parsed.doc.get("variants")
        for error in exc.errors(include_url=False):
            loc = error["loc"]
            line, sku = parsed.line, ""
            if len(loc) >= 2 and loc[0] == "variants" and isinstance(loc[1], int):
                index = loc[1]
                if index < len(parsed.variant_lines):
                    line = parsed.variant_lines[index]
                if isinstance(variants, list) and isinstance(variants[index], dict):
                    sku = str(variants[index].get("sku", ""))
            message = str(error["msg"]).removeprefix("Value error, ")
            errors.append(
                RowError(line, parsed.slug, sku, _field_name(loc, parsed.columns, message), message)
            )
        return errors


# --- running ---------------------------------------------------------------------------------


class _CountingReader(io.RawIOBase):
    """A binary file that counts the bytes read through it (progress for any format)."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner = inner
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.inner.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)


@dataclass
class _Batch:
    items: list[tuple[Parsed, ProductIn | list[RowError]]]
    bytes_done: int


def _next_batch(
    items: Iterator[Parsed], size: int, seen: set[bytes], counter: _CountingReader
) -> _Batch:
    batch: list[tuple[Parsed, ProductIn | list[RowError]]] = []
    for parsed in islice(items, size):
        result = validate(parsed)
        if isinstance(result, ProductIn):
            key = hashlib.blake2b(result.slug.encode(), digest_size=8).digest()
            if key in seen:
                message = "this slug appears earlier in the file; each product once"
                result = [RowError(parsed.line, result.slug, "", "slug", message)]
            seen.add(key)
        batch.append((parsed, result))
    return _Batch(batch, counter.count)


def _error_of(exc: Exception, parsed: Parsed, doc: ProductIn) -> RowError:
    if isinstance(exc, Problem):
        message = exc.detail
        skus = exc.extensions.get("skus")
        sku = skus[0] if isinstance(skus, list) and skus else ""
        field_name = "sku" if sku else ""
    else:  # a constraint the domain code did not check first
        message = str(getattr(exc, "orig", exc)).splitlines()[0][:500]
        sku, field_name = "", ""
    line = parsed.line
    if sku and parsed.variant_lines:
        skus_in_doc = [v.sku for v in doc.variants]
        if sku in skus_in_doc:
            line = parsed.variant_lines[skus_in_doc.index(sku)]
    return RowError(line, doc.slug, sku, field_name, message)


class _References:
    """Brands and category paths a batch needs, created up front in their own short transaction.

    Parallel batches would otherwise each create the same new brand or category inside their
    long batch transactions and wait on (or deadlock with) each other. Remembered per run.
    """

    def __init__(self) -> None:
        self.brands: set[str] = set()
        self.paths: set[tuple[str, ...]] = set()
        self.lock = asyncio.Lock()

    async def ensure(self, db: Database, docs: list[ProductIn]) -> None:
        async with self.lock:
            new_brands = sorted({d.brand for d in docs if d.brand} - self.brands)
            new_paths = sorted({tuple(d.category) for d in docs if d.category} - self.paths)
            if not new_brands and not new_paths:
                return
            async with db.session() as session:
                for name in new_brands:
                    if await _quietly(session, brands.find_or_create(session, name)):
                        self.brands.add(name)
                for path in new_paths:
                    if await _quietly(session, categories.find_or_create_path(session, list(path))):
                        self.paths.add(path)


async def _quietly(session: AsyncSession, work: Awaitable[object]) -> bool:
    """Run `work` in a savepoint; False if the database refused it (the row reports it later)."""
    try:
        async with session.begin_nested():
            await work
    except (Problem, IntegrityError, DataError):
        return False
    return True


async def _write_batch(
    session: AsyncSession, batch: _Batch, *, actor: str
) -> tuple[Counts, list[RowError]]:
    counts = Counts(rows=len(batch.items), bytes_done=batch.bytes_done)
    errors: list[RowError] = []
    for parsed, result in batch.items:
        if not isinstance(result, ProductIn):
            errors.extend(result)
            counts.failed += 1
            continue
        try:
            async with session.begin_nested():
                upserted = await upsert_by_slug(session, result, actor=actor)
        except (Problem, IntegrityError, DataError) as exc:
            errors.append(_error_of(exc, parsed, result))
            counts.failed += 1
            continue
        if upserted.created:
            counts.created += 1
        elif upserted.changed:
            counts.updated += 1
        else:
            counts.unchanged += 1
    return counts, errors


async def run(
    db: Database,
    source: IO[bytes],
    *,
    fmt: Format,
    job_id: uuid.UUID,
    actor: str,
    bytes_total: int | None = None,
    batch_size: int = BATCH_SIZE,
    workers: int = WORKERS,
    on_progress: Callable[[Counts], None] | None = None,
) -> Counts:
    """Import `source` into the catalogue as job `job_id` (created with `create_job`).

    One reader parses and validates batches (in a thread) for `workers` writers, each writing a
    batch per transaction; at most `workers` batches wait in memory. Ends the job `succeeded`
    (row errors included) or `failed` (the file could not be read or the database failed; what
    was committed stays) and returns the counts.
    """
    counter = _CountingReader(source)
    items = read(io.BufferedReader(counter, buffer_size=64 * 1024), fmt)
    total = Counts(bytes_total=bytes_total)
    seen: set[bytes] = set()
    references = _References()
    queue: asyncio.Queue[_Batch | None] = asyncio.Queue(maxsize=workers)
    started = time.monotonic()

    async def reader() -> None:
        while (
            batch := await asyncio.to_thread(_next_batch, items, batch_size, seen, counter)
        ).items:
            await queue.put(batch)
        for _ in range(workers):  # on failure the task group cancels the writers instead
            await queue.put(None)

    async def writer() -> None:
        while (batch := await queue.get()) is not None:
            await references.ensure(db, [r for _, r in batch.items if isinstance(r, ProductIn)])
            async with db.session() as session:
                counts, errors = await _write_batch(session, batch, actor=actor)
                await _save_progress(session, job_id, counts, errors)
            total.add(counts)
            total.seconds = time.monotonic() - started
            if on_progress is not None:
                on_progress(total)

    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(reader())
            for _ in range(workers):
                group.create_task(writer())
    except BaseExceptionGroup as group_error:
        first = _first_error(group_error)
        message = str(first) if isinstance(first, ImportFileError) else f"stopped: {first}"
        await finish_job(db, job_id, state="failed", message=message[:1000])
        raise first from None
    total.bytes_done = counter.count
    total.seconds = time.monotonic() - started
    await finish_job(db, job_id, state="succeeded", message="")
    return total


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    first = group.exceptions[0]
    return _first_error(first) if isinstance(first, BaseExceptionGroup) else first


# --- jobs ------------------------------------------------------------------------------------


async def create_job(
    db: Database, *, fmt: Format, actor: str, filename: str = "", bytes_total: int | None = None
) -> uuid.UUID:
    job_id = uuid.uuid4()
    async with db.session() as session:
        await session.execute(
            insert(IMPORT_JOBS).values(
                id=job_id,
                format=fmt,
                state="running",
                actor=actor,
                filename=filename[:500],
                bytes_total=bytes_total,
            )
        )
    return job_id


async def _save_progress(
    session: AsyncSession, job_id: uuid.UUID, delta: Counts, errors: list[RowError]
) -> None:
    """Add one batch's counts to the job, in the batch's transaction (counts match commits)."""
    if errors:
        await session.execute(
            insert(IMPORT_ERRORS), [{"job_id": job_id, **e.as_dict()} for e in errors]
        )
    j = IMPORT_JOBS.c
    await session.execute(
        update(IMPORT_JOBS)
        .where(j.id == job_id)
        .values(
            rows=j.rows + delta.rows,
            created=j.created + delta.created,
            updated=j.updated + delta.updated,
            unchanged=j.unchanged + delta.unchanged,
            failed=j.failed + delta.failed,
            bytes_done=func.greatest(j.bytes_done, delta.bytes_done),
            updated_at=datetime.now(UTC),
        )
    )


async def finish_job(db: Database, job_id: uuid.UUID, *, state: str, message: str) -> None:
    now = datetime.now(UTC)
    values: dict[str, Any] = {"state": state, "message": message, "finished_at": now}
    if state == "succeeded":  # every byte was read
        values["bytes_done"] = func.coalesce(IMPORT_JOBS.c.bytes_total, IMPORT_JOBS.c.bytes_done)
    async with db.session() as session:
        await session.execute(
            update(IMPORT_JOBS)
            .where(IMPORT_JOBS.c.id == job_id, IMPORT_JOBS.c.state == "running")
            .values(**values)
        )


async def get_job(db: Database, job_id: uuid.UUID) -> dict[str, Any] | None:
    async with db.session() as session:
        row = (
            await session.execute(select(IMPORT_JOBS).where(IMPORT_JOBS.c.id == job_id))
        ).one_or_none()
    return dict(row._mapping) if row is not None else None


async def row_errors(
    db: Database, job_id: uuid.UUID, *, page: int = 1000
) -> AsyncIterator[RowError]:
    """The job's row errors in file order, a page of rows at a time (an async iterator)."""
    after = 0
    while True:
        async with db.session() as session:
            rows = (
                await session.execute(
                    select(IMPORT_ERRORS)
                    .where(IMPORT_ERRORS.c.job_id == job_id, IMPORT_ERRORS.c.id > after)
                    .order_by(IMPORT_ERRORS.c.id)
                    .limit(page)
                )
            ).all()
        if not rows:
            return
        for r in rows:
            yield RowError(r.line, r.slug, r.sku, r.field, r.message)
        after = rows[-1].id
