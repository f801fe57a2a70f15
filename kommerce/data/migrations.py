"""Per-service Alembic migrations, run programmatically.

Every service keeps `services/<name>/migrations/` (an Alembic script directory whose env.py
calls `run_env`). The version table lives in the service's own schema, so services migrate
independently. Services call `await upgrade_service(settings, MIGRATIONS)` at start-up (it runs
Alembic, which blocks, in a worker thread).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Protocol

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine


def alembic_config(*, script_location: Path, url: str, schema: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["schema"] = schema
    return cfg


def upgrade(*, script_location: Path, url: str, schema: str, revision: str = "head") -> None:
    """Bring the service's schema up to `revision` (blocking; call via a thread from async code)."""
    command.upgrade(
        alembic_config(script_location=script_location, url=url, schema=schema), revision
    )


class _ServiceSchema(Protocol):
    @property
    def schema_name(self) -> str: ...

    def async_database_url(self) -> str: ...


async def upgrade_service(settings: _ServiceSchema, script_location: Path) -> None:
    """At a service's start-up: its own schema up to head, from a worker thread (Alembic
    blocks the event loop otherwise)."""
    await asyncio.to_thread(
        upgrade,
        script_location=script_location,
        url=settings.async_database_url(),
        schema=settings.schema_name,
    )


def downgrade(*, script_location: Path, url: str, schema: str, revision: str) -> None:
    command.downgrade(
        alembic_config(script_location=script_location, url=url, schema=schema), revision
    )


def _not_the_version_table(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    return not (type_ == "table" and name == "alembic_version")


def run_env(target_metadata: MetaData) -> None:
    """The body of every service's migrations/env.py (online mode, asyncpg)."""
    cfg = context.config
    schema = cfg.attributes["schema"]
    url = cfg.get_main_option("sqlalchemy.url")
    assert url is not None

    def migrate(connection: Connection) -> None:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        connection.execute(text(f'SET search_path TO "{schema}", public'))
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table_schema=schema,
            include_schemas=False,
            # autogenerate must not treat Alembic's own table as one to drop
            include_object=_not_the_version_table,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def main() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.begin() as conn:
            await conn.run_sync(migrate)
        await engine.dispose()

    asyncio.run(main())
