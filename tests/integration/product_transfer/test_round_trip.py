"""Export -> import into an empty schema reproduces the catalogue (CSV and JSON Lines), also
through the CLI against the database."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from kommerce.cli.main import cli
from services.product import importer
from services.product.documents import ProductIn
from tests.integration.product_transfer.conftest import Service
from tests.integration.product_transfer.helpers import jsonl, products
from tests.integration.product_transfer.test_import import export, import_file

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
async def test_export_then_import_into_an_empty_schema_is_the_same_catalogue(
    source_service: Service, empty_service: Service, merchant: dict[str, str], fmt: str
) -> None:
    service = source_service
    docs = products(6000, 40, seed=11)
    docs[0]["seo"] = {"title": "A; tricky = title"}
    docs[1]["attributes"] = {"note": "semi;colon", "eq": "a=b"}
    docs[2]["category"] = ["Odd > Names", "Sub"]
    docs[3]["variants"] = []
    docs[4]["brand"] = None
    docs[5]["description"] = 'quotes " and, commas\nand a new line'
    await import_file(service.client, merchant, jsonl(docs))
    source = await export(service.client, merchant, fmt)
    job = await import_file(empty_service.client, merchant, source.encode(), fmt=fmt)
    assert job["failed"] == 0, job
    assert job["created"] == job["rows"] > 0
    assert await export(empty_service.client, merchant, fmt) == source
    if fmt == "jsonl":
        lines = {json.loads(line)["slug"]: json.loads(line) for line in source.splitlines()}
        assert lines[docs[1]["slug"]]["attributes"] == docs[1]["attributes"]
        assert lines[docs[2]["slug"]]["category"] == docs[2]["category"]
    again = await import_file(empty_service.client, merchant, source.encode(), fmt=fmt)
    assert again["unchanged"] == again["rows"]


def documents(path: Path) -> list[ProductIn]:
    """The file's products, validated (attribute order is not kept: JSONB orders keys)."""
    with path.open("rb") as source:
        found = [importer.validate(p) for p in importer.read(source, "csv")]
    assert all(isinstance(doc, ProductIn) for doc in found)
    return sorted(found, key=lambda doc: doc.slug)  # type: ignore[union-attr]


def test_cli_imports_and_exports_with_the_database(empty_service: Service, tmp_path: Path) -> None:
    source = tmp_path / "catalog.csv"
    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "catalog",
            "generate",
            "--products",
            "30",
            "--seed",
            "3",
            "--out",
            str(source),
            "--every",
            "10",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "30 / 30 products" in result.output
    url = os.environ["KOMMERCE_DATABASE_URL"]
    schema = empty_service.ctx.db.schema
    common = ["--database-url", url, "--schema", schema]
    result = runner.invoke(cli, ["catalog", "import", str(source), *common])
    assert result.exit_code == 0, result.output
    assert "succeeded: 30 products - 30 created" in result.output
    out = tmp_path / "out.csv"
    result = runner.invoke(cli, ["catalog", "export", "--out", str(out), *common])
    assert result.exit_code == 0, result.output
    assert documents(out) == documents(source)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"slug": "x"}\n')
    report = tmp_path / "errors.jsonl"
    result = runner.invoke(
        cli, ["catalog", "import", str(broken), *common, "--errors", str(report)]
    )
    assert result.exit_code == 1, result.output
    assert "line 1: slug=x field=name" in result.output
    assert json.loads(report.read_text().splitlines()[0])["field"] == "name"
