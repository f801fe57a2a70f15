"""Bulk import against the real PostgreSQL: row errors with line numbers, idempotent re-import,
progress, permissions."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import resource
import time
from typing import Any

import httpx
import pytest

from tests.integration.product_transfer.conftest import Service
from tests.integration.product_transfer.helpers import csv_text, jsonl, products
from tests.tokens import TokenMinter

pytestmark = pytest.mark.integration


async def import_file(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    body: bytes,
    *,
    fmt: str = "jsonl",
    wait: bool = True,
) -> dict[str, Any]:
    r = await client.post(
        "/v1/catalog/imports",
        params={"format": fmt, "wait": str(wait).lower()},
        content=body,
        headers={**headers, "Content-Type": "application/x-ndjson"},
    )
    assert r.status_code == (200 if wait else 202), r.text
    assert r.headers["Location"] == f"/v1/catalog/imports/{r.json()['id']}"
    job: dict[str, Any] = r.json()
    return job


async def error_report(
    client: httpx.AsyncClient, headers: dict[str, str], job: dict[str, Any], fmt: str = "jsonl"
) -> list[dict[str, Any]]:
    r = await client.get(job["errors_url"], params={"format": fmt}, headers=headers)
    assert r.status_code == 200, r.text
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(r.text)))
    return [json.loads(line) for line in r.text.splitlines()]


async def test_malformed_rows_are_reported_and_good_rows_land(
    service: Service, merchant: dict[str, str]
) -> None:
    good = products(1000, 4)
    float_price = products(1004, 1)[0]
    float_price["variants"][0]["price"]["amount"] = 19.5
    unknown_currency = products(1005, 1)[0]
    unknown_currency["variants"][-1]["price"]["currency"] = "XYZ"
    stolen_sku = products(1006, 1)[0]
    stolen_sku["variants"][0]["sku"] = good[0]["variants"][0]["sku"]
    lines = [
        json.dumps(good[0]),  # 1
        '{"slug": "half-a-line", "name": "Broken',  # 2: bad JSON
        json.dumps(good[1]),  # 3
        json.dumps({"slug": "no-name-here", "variants": []}),  # 4: missing name
        json.dumps(float_price),  # 5: invalid money
        "",  # 6: blank lines are skipped
        json.dumps(unknown_currency),  # 7
        json.dumps(stolen_sku),  # 8: another product's SKU
        json.dumps(good[2]),  # 9
        json.dumps(good[3]),  # 10
        json.dumps({**products(1007, 1)[0], "brand": "nul\u0000brand"}),  # 11: text PG refuses
    ]
    job = await import_file(service.client, merchant, "\n".join(lines).encode())
    assert job["state"] == "succeeded", job
    assert (job["rows"], job["created"], job["failed"]) == (10, 4, 6)
    errors = await error_report(service.client, merchant, job)
    by_line = {e["line"]: e for e in errors}
    assert sorted(by_line) == [2, 4, 5, 7, 8, 11]
    assert by_line[2]["slug"] == "half-a-line"
    assert "JSON" in by_line[2]["message"]
    assert (by_line[4]["slug"], by_line[4]["field"]) == ("no-name-here", "name")
    assert by_line[5]["field"] == "variants.0.price.amount"
    assert by_line[5]["sku"] == float_price["variants"][0]["sku"]
    assert by_line[7]["field"].startswith(f"variants.{len(unknown_currency['variants']) - 1}.price")
    assert "ISO 4217" in by_line[7]["message"]
    assert by_line[8]["sku"] == good[0]["variants"][0]["sku"]
    assert "another product" in by_line[8]["message"]
    as_csv = await error_report(service.client, merchant, job, "csv")
    assert [int(row["line"]) for row in as_csv] == [2, 4, 5, 7, 8, 11]
    exported = await export(service.client, merchant, "jsonl")
    slugs = {json.loads(line)["slug"] for line in exported.splitlines()}
    assert {d["slug"] for d in good} <= slugs
    assert not {"no-name-here", float_price["slug"], stolen_sku["slug"]} & slugs


async def export(client: httpx.AsyncClient, headers: dict[str, str], fmt: str) -> str:
    r = await client.get("/v1/catalog/export", params={"format": fmt}, headers=headers)
    assert r.status_code == 200, r.text
    return r.text


async def test_reimporting_the_same_file_changes_nothing(
    service: Service, merchant: dict[str, str]
) -> None:
    body = jsonl(products(2000, 25))
    first = await import_file(service.client, merchant, body)
    assert (first["created"], first["failed"]) == (25, 0)
    events = await service.outbox_rows()
    again = await import_file(service.client, merchant, body)
    assert (again["rows"], again["unchanged"], again["created"], again["updated"]) == (25, 25, 0, 0)
    assert await service.outbox_rows() == events  # no new version, no event
    changed = products(2000, 25)
    changed[3]["variants"][0]["price"]["amount"] += 100
    third = await import_file(service.client, merchant, jsonl(changed))
    assert (third["updated"], third["unchanged"]) == (1, 24)
    assert await service.outbox_rows() > events


async def test_csv_import_reports_rows_by_line_and_column(
    service: Service, merchant: dict[str, str]
) -> None:
    docs = products(3000, 3)
    rows = list(csv.reader(io.StringIO(csv_text(docs).decode())))
    rows[2][rows[0].index("price")] = "12.345"  # more decimals than EUR has
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([*rows, ["short", "row"]])
    body = out.getvalue().encode()
    job = await import_file(service.client, merchant, body, fmt="csv")
    errors = await error_report(service.client, merchant, job)
    assert {(e["line"], e["field"]) for e in errors} >= {(3, "price")}
    assert errors[-1]["line"] == len(rows) + 1
    assert job["failed"] == 2
    assert job["created"] == 2


async def test_multipart_upload_picks_the_format_from_the_file_name(
    service: Service, merchant: dict[str, str]
) -> None:
    docs = products(4000, 3)
    r = await service.client.post(
        "/v1/catalog/imports",
        params={"wait": "true"},
        files={"file": ("catalog.csv", csv_text(docs), "text/csv")},
        headers=merchant,
    )
    assert r.status_code == 200, r.text
    job = r.json()
    assert (job["format"], job["filename"], job["created"]) == ("csv", "catalog.csv", 3)
    r = await service.client.post(
        "/v1/catalog/imports", files={"other": ("x.csv", b"slug,name\n")}, headers=merchant
    )
    assert r.status_code == 400, r.text


# Kept modest for CI (2 shared cores); KOMMERCE_IMPORT_TEST_PRODUCTS=10000 for a bigger run.
LARGE = int(os.environ.get("KOMMERCE_IMPORT_TEST_PRODUCTS", "1500"))


async def test_large_import_runs_in_the_background_with_progress(
    service: Service, merchant: dict[str, str], minter: TokenMinter
) -> None:
    count = LARGE
    body = jsonl(products(10_000, count, seed=9))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    job = await import_file(service.client, merchant, body, wait=False)
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + 600
    while job["state"] == "running":
        assert time.monotonic() < deadline, job
        await asyncio.sleep(0.5)
        fresh = minter.bearer(roles=["merchant"])
        r = await service.client.get(f"/v1/catalog/imports/{job['id']}", headers=fresh)
        assert r.status_code == 200, r.text
        job = r.json()
        seen.append(job)
    seconds = time.monotonic() - started
    assert job["state"] == "succeeded", job
    assert (job["created"], job["failed"], job["percent"]) == (count, 0, 100.0)
    running = [s for s in seen if s["state"] == "running"]
    assert running, "no progress was visible while the import ran"
    assert all(0 <= s["rows"] <= count and s["rate"] >= 0 for s in running)
    assert [s["rows"] for s in seen] == sorted(s["rows"] for s in seen)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    print(f"\nimported {count} products in {seconds:.1f} s ({count / seconds:.0f}/s); "
          f"max RSS grew {grown_mib:.0f} MiB for a {len(body) / 2**20:.1f} MiB file")  # fmt: skip
    assert grown_mib < 150


async def test_import_and_export_need_catalog_write(service: Service, minter: TokenMinter) -> None:
    body = jsonl(products(5000, 1))
    r = await service.client.post("/v1/catalog/imports", content=body)
    assert r.status_code == 401
    customer = minter.bearer(roles=["customer"])
    r = await service.client.post("/v1/catalog/imports", content=body, headers=customer)
    assert r.status_code == 403
    assert "catalog:write" in r.json()["detail"]
    r = await service.client.get("/v1/catalog/export", headers=customer)
    assert r.status_code == 403
    r = await service.client.get(
        "/v1/catalog/imports/00000000-0000-4000-8000-000000000000", headers=customer
    )
    assert r.status_code == 403


async def test_unknown_job_is_404(service: Service, merchant: dict[str, str]) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    r = await service.client.get(f"/v1/catalog/imports/{missing}", headers=merchant)
    assert r.status_code == 404
    r = await service.client.get(f"/v1/catalog/imports/{missing}/errors", headers=merchant)
    assert r.status_code == 404


async def test_a_file_that_is_not_csv_fails_the_job_with_a_message(
    service: Service, merchant: dict[str, str]
) -> None:
    job = await import_file(service.client, merchant, b"slug;name\nx;y\n", fmt="csv")
    assert job["state"] == "failed"
    assert "header" in job["message"]
