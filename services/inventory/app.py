"""inventory application: `create_app()` is what `kommerce service run inventory` serves.

Background work in the process: the outbox relay (`relay_enabled`), a consumer of product
events and of the service's own `inventory.stock_changed` (`consumer_enabled`; it keeps the
ATS cache in sync) and of the saga commands on `inventory.commands.v1` (`participant_enabled`,
participant.py), and the sweeper returning expired reservations' stock (`sweeper_enabled`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI

from kommerce.auth.dependency import Authenticator
from kommerce.background import Background
from kommerce.data import migrations
from kommerce.events.consumer import Consumer, ConsumerMetrics
from kommerce.http.app import ServiceParts, create_service_app
from services.inventory import consumers, participant, reservations
from services.inventory.api import availability, reports, stock, suppliers, warehouses
from services.inventory.api import reservations as reservation_routes
from services.inventory.context import InventoryContext
from services.inventory.settings import InventorySettings
from services.inventory.stock import cache_entries

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger("kommerce.inventory")


async def sweep_expired(c: InventoryContext) -> None:
    """Return the stock of every expired reservation (in batches until none is due)."""
    while snapshots := await reservations.expire_due(c.db):
        await c.ats.write_through(cache_entries(snapshots))


def create_app(
    settings: InventorySettings | None = None, *, auth: Authenticator | None = None
) -> FastAPI:
    settings = settings or InventorySettings()
    c = InventoryContext.build(settings, auth)
    work = Background("inventory")

    async def start(app: FastAPI) -> None:
        if settings.migrate_on_start:
            await migrations.upgrade_service(settings, MIGRATIONS)
        if settings.sweeper_enabled:
            work.every(
                "reservation-sweeper", settings.sweep_interval_seconds, lambda: sweep_expired(c)
            )
        registry = app.state.metrics.registry
        if settings.relay_enabled:
            await work.relay(settings, schema=settings.schema_name, registry=registry)
        if settings.consumer_enabled and settings.kafka_bootstrap is not None:
            await work.consumer(
                Consumer(
                    group=settings.consumer_group,
                    topics=sorted(
                        {*consumers.TOPICS.values()}
                        | ({participant.TOPIC} if settings.participant_enabled else set())
                    ),
                    handler=consumers.handler(
                        c.ats,
                        participant.Participant(settings, c.ats)
                        if settings.participant_enabled
                        else None,
                    ),
                    database=c.db,
                    bootstrap=settings.kafka_bootstrap,
                    metrics=ConsumerMetrics.create(registry),
                )
            )

    async def stop(app: FastAPI) -> None:
        await work.stop()
        await c.redis.aclose()  # type: ignore[attr-defined]  # types-redis predates aclose
        await c.db.close()

    async def redis_ping() -> None:
        await c.redis.ping()

    app = create_service_app(
        settings=settings,
        parts=ServiceParts(
            routers=[
                availability.router,
                warehouses.router,
                stock.router,
                reservation_routes.router,
                suppliers.router,
                reports.router,
            ],
            readiness={"postgres": c.db.ping, "redis": redis_ping},
            on_startup=[start],
            on_shutdown=[stop],
        ),
        description="Stock per warehouse, reservations with TTL, allocation, adjustments, "
        "low-stock alerts, suppliers and purchase suggestions, reports, available-to-sell.",
    )
    app.state.ctx = c
    return app
