"""`kommerce catalog generate|import|export`: the product catalogue in bulk (JSON Lines or CSV).

`import` and `export` talk to a running product service (`--url`, with a token holding
`catalog:write`) or straight to its database schema (`--database-url`, the same code the service
runs; events still leave through the outbox the service relays). See docs/product-transfer.md.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import IO, Any, Literal

import click

Format = Literal["jsonl", "csv"]

FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv"]),
    default=None,
    help="Default: from the file name (.csv is CSV, anything else JSON Lines).",
)
URL = click.option(
    "--url",
    envvar="KOMMERCE_PRODUCT_URL",
    help="A running product service, e.g. http://127.0.0.1:8102 [$KOMMERCE_PRODUCT_URL].",
)
TOKEN = click.option(
    "--token", envvar="KOMMERCE_TOKEN", help="Access token with catalog:write [$KOMMERCE_TOKEN]."
)
DATABASE = click.option(
    "--database-url",
    envvar="KOMMERCE_DATABASE_URL",
    help="Work on the database directly instead [$KOMMERCE_DATABASE_URL].",
)
SCHEMA = click.option("--schema", default="catalog", show_default=True, help="With --database-url.")


def _format(fmt: str | None, path: Path | None) -> Format:
    if fmt == "csv":
        return "csv"
    if fmt == "jsonl":
        return "jsonl"
    return "csv" if path is not None and path.suffix.lower() == ".csv" else "jsonl"


def _async_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


@click.group()
def catalog() -> None:
    """The product catalogue in bulk: generate, import, export."""


@catalog.command("generate")
@click.option("--products", "count", type=click.IntRange(min=0), default=1000, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Default: standard output.")  # fmt: skip
@FORMAT
@click.option("--every", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="Report progress every N products (on standard error).")  # fmt: skip
def generate_command(count: int, seed: int, out: Path | None, fmt: str | None, every: int) -> None:
    """A seeded, realistic catalogue (the same products for the same seed)."""
    from services.product import exporter, generator

    chosen = _format(fmt, out)
    started = time.monotonic()

    def report(done: int) -> None:
        seconds = max(time.monotonic() - started, 1e-6)
        click.echo(f"{done:>10,} / {count:,} products  ({done / seconds:,.0f}/s)", err=True)

    def docs() -> Any:
        for index, doc in enumerate(generator.generate(count, seed), 1):
            yield doc
            if index % every == 0:
                report(index)

    target: IO[str] = out.open("w", encoding="utf-8", newline="") if out else sys.stdout
    try:
        for chunk in exporter.encode(docs(), chosen):
            target.write(chunk)
    finally:
        if out:
            target.close()
    if count % every:
        report(count)


def _progress(rows: int, done: int, total: int | None, failed: int, rate: float) -> None:
    share = f" {100 * done / total:5.1f}%" if total else ""
    click.echo(f"{rows:>10,} products{share}  ({rate:,.0f}/s, {failed:,} failed)", err=True)


def _summary(job: dict[str, Any]) -> None:
    click.echo(
        f"{job['state']}: {job['rows']:,} products - {job['created']:,} created, "
        f"{job['updated']:,} updated, {job['unchanged']:,} unchanged, {job['failed']:,} failed"
        f" ({job['rate']:,.0f}/s)"
    )
    if job.get("message"):
        click.echo(f"  {job['message']}", err=True)


def _show_errors(errors: list[dict[str, Any]], report: Path | None) -> None:
    for error in errors[:20]:
        where = " ".join(f"{k}={error[k]}" for k in ("slug", "sku", "field") if error[k])
        click.echo(f"  line {error['line']}: {where}: {error['message']}", err=True)
    if len(errors) > 20:
        click.echo(f"  ... and {len(errors) - 20:,} more", err=True)
    if report is not None:
        with report.open("w", encoding="utf-8") as out:
            for error in errors:
                out.write(json.dumps(error) + "\n")
        click.echo(f"row errors written to {report}", err=True)


@catalog.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@FORMAT
@URL
@TOKEN
@DATABASE
@SCHEMA
@click.option("--errors", "report", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the row errors here (JSON Lines).")  # fmt: skip
@click.option("--batch-size", type=click.IntRange(1, 5000), default=100, show_default=True)
@click.option("--workers", type=click.IntRange(1, 16), default=3, show_default=True,
              help="Batches written in parallel (with --database-url).")  # fmt: skip
def import_command(
    file: Path,
    fmt: str | None,
    url: str | None,
    token: str | None,
    database_url: str | None,
    schema: str,
    report: Path | None,
    batch_size: int,
    workers: int,
) -> None:
    """Import FILE: create or update products by slug; a bad row never stops the good ones."""
    chosen = _format(fmt, file)
    if url:
        job = _import_over_http(file, chosen, url, token, report)
    elif database_url:
        job = asyncio.run(
            _import_into_database(file, chosen, _async_url(database_url), schema, report,
                                  batch_size, workers)
        )  # fmt: skip
    else:
        raise click.ClickException("say where to: --url (the service) or --database-url")
    _summary(job)
    if job["state"] != "succeeded":
        sys.exit(2)
    if job["failed"]:
        sys.exit(1)


def _import_over_http(
    file: Path, fmt: Format, url: str, token: str | None, report: Path | None
) -> dict[str, Any]:
    import httpx

    def body() -> Any:
        with file.open("rb") as source:
            while chunk := source.read(256 * 1024):
                yield chunk

    content_type = "text/csv" if fmt == "csv" else "application/x-ndjson"
    with httpx.Client(base_url=url, headers=_headers(token), timeout=60) as client:
        response = client.post(
            "/v1/catalog/imports",
            params={"format": fmt},
            content=body(),
            headers={"Content-Type": content_type},
        )
        if response.status_code != 202:
            raise click.ClickException(f"{response.status_code}: {response.text}")
        job: dict[str, Any] = response.json()
        while job["state"] == "running":
            time.sleep(1)
            job = client.get(f"/v1/catalog/imports/{job['id']}").raise_for_status().json()
            _progress(job["rows"], job["bytes_done"], job["bytes_total"], job["failed"],
                      job["rate"])  # fmt: skip
        if job["failed"]:
            lines = client.get(job["errors_url"]).raise_for_status().text.splitlines()
            _show_errors([json.loads(line) for line in lines if line], report)
    return job


async def _import_into_database(
    file: Path,
    fmt: Format,
    url: str,
    schema: str,
    report: Path | None,
    batch_size: int,
    workers: int,
) -> dict[str, Any]:
    from kommerce.data import migrations
    from kommerce.data.db import Database
    from services.product import importer
    from services.product.app import MIGRATIONS

    db = Database(url=url, schema=schema)
    size = await asyncio.to_thread(lambda: file.stat().st_size)
    try:
        # the schema at the code's version, as the service would bring it at start
        await db.ensure_schema()
        await asyncio.to_thread(
            migrations.upgrade, script_location=MIGRATIONS, url=url, schema=schema
        )
        job_id = await importer.create_job(
            db,
            fmt=fmt,
            actor="cli",
            filename=file.name,
            bytes_total=size,
        )

        def progress(counts: importer.Counts) -> None:
            _progress(counts.rows, counts.bytes_done, size, counts.failed, counts.rate)

        with file.open("rb") as source:
            try:
                counts = await importer.run(
                    db, source, fmt=fmt, job_id=job_id, actor="cli",
                    bytes_total=size, batch_size=batch_size, workers=workers,
                    on_progress=progress,
                )  # fmt: skip
            except importer.ImportFileError as exc:
                raise click.ClickException(str(exc)) from exc
        errors = [e.as_dict() async for e in importer.row_errors(db, job_id)]
        if errors:
            _show_errors(errors, report)
        job = await importer.get_job(db, job_id)
        assert job is not None
        return {**job, "rate": counts.rate}
    finally:
        await db.close()


@catalog.command("export")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Default: standard output.")  # fmt: skip
@FORMAT
@URL
@TOKEN
@DATABASE
@SCHEMA
def export_command(
    out: Path | None,
    fmt: str | None,
    url: str | None,
    token: str | None,
    database_url: str | None,
    schema: str,
) -> None:
    """The whole catalogue in the import format, in slug order."""
    chosen = _format(fmt, out)
    target: IO[bytes] = out.open("wb") if out else sys.stdout.buffer
    try:
        if url:
            _export_over_http(target, chosen, url, token)
        elif database_url:
            asyncio.run(_export_from_database(target, chosen, _async_url(database_url), schema))
        else:
            raise click.ClickException("say where from: --url (the service) or --database-url")
    finally:
        if out:
            target.close()


def _export_over_http(target: IO[bytes], fmt: Format, url: str, token: str | None) -> None:
    import httpx

    params = {"format": fmt}
    with (
        httpx.Client(base_url=url, headers=_headers(token), timeout=60) as client,
        client.stream("GET", "/v1/catalog/export", params=params) as response,
    ):
        if response.status_code != 200:
            raise click.ClickException(f"{response.status_code}: {response.read().decode()}")
        for chunk in response.iter_bytes():
            target.write(chunk)


async def _export_from_database(target: IO[bytes], fmt: Format, url: str, schema: str) -> None:
    from kommerce.data.db import Database
    from services.product import exporter

    db = Database(url=url, schema=schema)
    try:
        async for chunk in exporter.stream(db, fmt):
            target.write(chunk)
    finally:
        await db.close()
