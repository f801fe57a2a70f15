"""Fixtures for bulk import/export: the product app on the test stack's PostgreSQL.

Each test session gets its own schema; round-trip tests start a second app on another, empty
schema. The outbox relay and the Kafka consumer are off: these tests count the events an import
records in the outbox table instead of reading them from Kafka.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from services.product.app import create_app
from services.product.context import ProductContext
from services.product.settings import ProductSettings
from tests.integration.apps import serving
from tests.tokens import TokenMinter


class Service:
    def __init__(self, app: FastAPI, client: httpx.AsyncClient) -> None:
        self.app = app
        self.client = client

    @property
    def ctx(self) -> ProductContext:
        context: ProductContext = self.app.state.ctx
        return context

    async def outbox_rows(self) -> int:
        async with self.ctx.db.session() as session:
            return int((await session.execute(text("SELECT count(*) FROM outbox"))).scalar_one())


def settings_for(image_dir: Path) -> ProductSettings:
    return ProductSettings(
        environment="test",
        schema_name=f"catalog_x{uuid.uuid4().hex[:8]}",
        relay_enabled=False,
        co_occurrence_enabled=False,
        image_dir=image_dir,
    )


@contextlib.asynccontextmanager
async def running(settings: ProductSettings, minter: TokenMinter) -> AsyncIterator[Service]:
    app = create_app(settings, auth=minter.authenticator())
    async with serving(app, base_url="http://product.test", timeout=120) as client:
        try:
            yield Service(app, client)
        finally:
            async with app.state.ctx.db.engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{settings.schema_name}" CASCADE'))


@pytest.fixture
def merchant(minter: TokenMinter) -> dict[str, str]:
    """A fresh token per test (tokens live 5 minutes)."""
    return minter.bearer(roles=["merchant"])


@pytest.fixture(scope="session")
async def service(
    stack_env: dict[str, str], minter: TokenMinter, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Service]:
    async with running(settings_for(tmp_path_factory.mktemp("images")), minter) as started:
        yield started


@pytest.fixture
async def source_service(
    stack_env: dict[str, str], minter: TokenMinter, tmp_path: Path
) -> AsyncIterator[Service]:
    """An app on a fresh, empty schema (the source of a round trip)."""
    async with running(settings_for(tmp_path), minter) as started:
        yield started


@pytest.fixture
async def empty_service(
    stack_env: dict[str, str], minter: TokenMinter, tmp_path: Path
) -> AsyncIterator[Service]:
    """Another app on a fresh, empty schema (the target of a round trip)."""
    async with running(settings_for(tmp_path), minter) as started:
        yield started
