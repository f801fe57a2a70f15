"""Fixtures for the payment service's suites on the test stack.

`payment_db`: a fresh `payments_d<random>` schema migrated with services/payment/migrations
(no app, no providers), for tests of the service's SQL: the fraud rules' velocity count,
analytics queries."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from kommerce.data.db import Database
from kommerce.data.migrations import upgrade_service
from services.payment.app import MIGRATIONS
from services.payment.settings import PaymentSettings


@pytest.fixture(scope="package")
async def payment_db(stack_env: dict[str, str]) -> AsyncIterator[Database]:
    settings = PaymentSettings(environment="test", schema_name=f"payments_d{uuid.uuid4().hex[:8]}")
    await upgrade_service(settings, MIGRATIONS)
    db = Database(url=settings.async_database_url(), schema=settings.schema_name, pool_size=2)
    try:
        yield db
    finally:
        async with db.engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{settings.schema_name}" CASCADE'))
        await db.close()
