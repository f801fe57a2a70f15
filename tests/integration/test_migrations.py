"""Per-service Alembic migrations land in the service's own schema."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from kommerce.data import migrations
from kommerce.data.db import Database
from kommerce.settings import KommerceSettings

pytestmark = pytest.mark.integration

SCRIPTS = Path(__file__).parent / "fixtures" / "migrations"
TABLES_IN_SCHEMA = "SELECT table_name FROM information_schema.tables WHERE table_schema = :s"


async def test_upgrade_and_downgrade_in_own_schema(stack_env: dict[str, str]) -> None:
    url = KommerceSettings().async_database_url()
    schema = f"svc_{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(migrations.upgrade, script_location=SCRIPTS, url=url, schema=schema)
    db = Database(url=url, schema=schema)
    try:
        async with db.session() as s:
            await s.execute(text("INSERT INTO notes (body) VALUES ('hello')"))
        async with db.session() as s:
            tables = set(
                (
                    await s.execute(
                        text(TABLES_IN_SCHEMA),
                        {"s": schema},
                    )
                ).scalars()
            )
            assert tables == {"notes", "alembic_version"}
            assert (
                await s.execute(text("SELECT version_num FROM alembic_version"))
            ).scalar() == "0001"
        # Upgrading again is a no-op; downgrading removes the table.
        await asyncio.to_thread(migrations.upgrade, script_location=SCRIPTS, url=url, schema=schema)
        await asyncio.to_thread(
            migrations.downgrade, script_location=SCRIPTS, url=url, schema=schema, revision="base"
        )
        async with db.session() as s:
            remaining = set(
                (
                    await s.execute(
                        text(TABLES_IN_SCHEMA),
                        {"s": schema},
                    )
                ).scalars()
            )
        assert remaining == {"alembic_version"}
    finally:
        await db.close()


async def test_session_rolls_back_on_error(stack_env: dict[str, str]) -> None:
    db = Database(url=KommerceSettings().async_database_url(), schema="it_rollback")
    await db.ensure_schema()
    try:
        async with db.session() as s:
            await s.execute(text("CREATE TABLE IF NOT EXISTS t (id int primary key)"))
            await s.execute(text("DELETE FROM t"))

        async def failing_transaction() -> None:
            async with db.session() as s:
                await s.execute(text("INSERT INTO t VALUES (1)"))
                raise RuntimeError("domain failure")

        with pytest.raises(RuntimeError):
            await failing_transaction()
        async with db.session() as s:
            assert (await s.execute(text("SELECT count(*) FROM t"))).scalar() == 0
    finally:
        await db.close()
