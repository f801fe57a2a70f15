"""Both search backends, on the test stack's real servers, behind one `backend` fixture.

The behavioural tests in this folder take `backend` and run once per backend: PostgreSQL (the
search service's own schema, migrated fresh for this session) and OpenSearch (the stack's
node, indices under a prefix of this session). Each test starts from an empty index.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kommerce.data import migrations
from kommerce.settings import KommerceSettings
from services.search.backend import SearchBackend
from services.search.models import PriceRange, SearchDocument
from services.search.opensearch import OpenSearchBackend

MIGRATIONS = Path(__file__).resolve().parents[3] / "services" / "search" / "migrations"


@pytest.fixture(scope="session")
async def opensearch_backend(stack_env: dict[str, str]) -> AsyncIterator[OpenSearchBackend]:
    backend = OpenSearchBackend(
        url=stack_env["KOMMERCE_OPENSEARCH_URL"],
        index_prefix=f"t{uuid.uuid4().hex[:8]}",
        refresh=True,
    )
    await backend.start()
    yield backend
    await backend.client.indices.delete(
        index=f"{backend.products},{backend.stock}", ignore_unavailable=True
    )
    await backend.close()


@pytest.fixture(scope="session")
async def postgres_backend(stack_env: dict[str, str]) -> AsyncIterator[SearchBackend]:
    from services.search.postgres.backend import PostgresBackend

    settings = KommerceSettings()
    schema = f"search_t{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(
        migrations.upgrade,
        script_location=MIGRATIONS,
        url=settings.async_database_url(),
        schema=schema,
    )
    backend = PostgresBackend(dsn=str(settings.database_url), schema=schema)
    await backend.start()
    yield backend
    await backend.close()


@pytest.fixture(params=["postgres", "opensearch"])
def any_backend(request: pytest.FixtureRequest) -> SearchBackend:
    chosen: SearchBackend = request.getfixturevalue(f"{request.param}_backend")
    return chosen


@pytest.fixture
async def backend(any_backend: SearchBackend) -> SearchBackend:
    await any_backend.clear()
    await any_backend.set_synonyms([])
    return any_backend


def product(pid: str | None = None, *, version: int = 1, **fields: Any) -> SearchDocument:
    """A searchable product; `price` (minor units, EUR) and `variants` are shortcuts."""
    pid = pid or str(uuid.uuid4())
    price = fields.pop("price", 1000)
    variants = fields.pop("variants", [f"{pid}-v1"])
    values: dict[str, Any] = {
        "product_id": pid,
        "version": version,
        "slug": fields.get("name", pid).lower().replace(" ", "-") + "-" + pid[:8],
        "name": "Plain Product",
        "variant_ids": variants,
        "skus": [v.upper() for v in variants],
        "prices": {"EUR": PriceRange(min=price, max=price)},
        "changed_at": datetime.now(UTC),
    }
    values.update(fields)
    return SearchDocument(**values)
