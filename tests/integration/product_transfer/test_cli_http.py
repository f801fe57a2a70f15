"""`kommerce catalog import|export --url`: the CLI against the service served over real HTTP."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from click.testing import CliRunner
from sqlalchemy import text

from kommerce.cli.main import cli
from kommerce.data.db import Database
from services.product.app import create_app
from tests.integration.product_transfer.conftest import settings_for
from tests.integration.product_transfer.helpers import jsonl, products
from tests.tokens import TokenMinter

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def drop_schema(url: str, schema: str) -> None:
    db = Database(url=url, schema="public")
    async with db.engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    await db.close()


def test_cli_imports_and_exports_over_http(
    stack_env: dict[str, str], minter: TokenMinter, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, auth=minter.authenticator()),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 120
        while not server.started:
            assert time.monotonic() < deadline, "the service did not start"
            assert thread.is_alive(), "the service did not start"
            time.sleep(0.1)
        docs = products(7000, 12)
        docs[5]["variants"][0]["price"]["currency"] = "EURO"
        source = tmp_path / "catalog.jsonl"
        source.write_bytes(jsonl(docs))
        url = ["--url", f"http://127.0.0.1:{port}"]
        token = minter.token(roles=["merchant"])
        runner = CliRunner()
        result = runner.invoke(cli, ["catalog", "import", str(source), *url])
        assert result.exit_code == 1, result.output  # no token: refused
        assert "401" in result.output
        report = tmp_path / "errors.jsonl"
        args = ["catalog", "import", str(source), *url, "--token", token, "--errors", str(report)]
        result = runner.invoke(cli, args)
        assert result.exit_code == 1, result.output  # one row failed
        assert "succeeded: 12 products - 11 created" in result.output
        error = json.loads(report.read_text())
        assert (error["line"], error["field"]) == (6, "variants.0.price.currency")
        out = tmp_path / "out.csv"
        result = runner.invoke(
            cli, ["catalog", "export", "--out", str(out), *url, "--token", token]
        )
        assert result.exit_code == 0, result.output
        assert out.read_text().startswith("slug,name,")
        assert len({line.split(",")[0] for line in out.read_text().splitlines()[1:]}) == 11
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        asyncio.run(drop_schema(settings.async_database_url(), settings.schema_name))
