"""Async SQLAlchemy 2 on asyncpg, one schema per service.

Each service owns a PostgreSQL schema (its tables and its Alembic version table live there) and
sets it as the connection's search_path, so no service can read another's tables by accident.
Pools are bounded, connections are pinged before use (unless the service opts out and retries
instead), and every statement has a timeout.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class Base(DeclarativeBase):
    """Declarative base for service models (each service sets `__table_args__` schema)."""


class Database:
    def __init__(
        self,
        *,
        url: str,
        schema: str,
        pool_size: int = 5,
        statement_timeout_ms: int = 15_000,
        pre_ping: bool = True,
    ) -> None:
        """`pre_ping=False` saves the ping (three round trips with asyncpg) on every checkout;
        the caller must then retry a transaction that fails on a dead connection
        (`DBAPIError.connection_invalidated`)."""
        if not _SCHEMA.match(schema):
            raise ValueError(f"not a valid schema name: {schema!r}")
        self.schema = schema
        self.engine: AsyncEngine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=pre_ping,
            pool_timeout=10,
            connect_args={
                "timeout": 5,
                "command_timeout": statement_timeout_ms / 1000,
                "server_settings": {
                    "search_path": f"{schema},public",
                    "statement_timeout": str(statement_timeout_ms),
                    "application_name": f"kommerce-{schema}",
                },
            },
        )
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction: committed on success, rolled back on any error."""
        async with self.sessions() as session, session.begin():
            yield session

    async def ensure_schema(self) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()


async def create_tables(target: AsyncEngine | AsyncConnection, metadata: MetaData) -> None:
    """Create `metadata`'s tables that are missing, in the current schema (idempotent)."""
    if isinstance(target, AsyncEngine):
        async with target.begin() as conn:
            await conn.run_sync(metadata.create_all)
    else:
        await target.run_sync(metadata.create_all)
