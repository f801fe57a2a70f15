"""product application: `create_app()` is what `kommerce service run product` serves."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI

from kommerce.auth.dependency import Authenticator
from kommerce.auth.setup import authenticator
from kommerce.background import Background
from kommerce.data import migrations
from kommerce.events.consumer import Consumer, ConsumerMetrics
from kommerce.http.app import ServiceParts, create_service_app
from services.product import related
from services.product.api import brands, categories, images, products, transfer
from services.product.context import ProductContext
from services.product.settings import ProductSettings

MIGRATIONS = Path(__file__).parent / "migrations"
CONSUMER_GROUP = "product-co-occurrence"
log = logging.getLogger("kommerce.product")


def create_app(
    settings: ProductSettings | None = None, *, auth: Authenticator | None = None
) -> FastAPI:
    settings = settings or ProductSettings()
    c = ProductContext.build(settings, auth or authenticator(settings))
    work = Background("product")

    async def start(app: FastAPI) -> None:
        if settings.migrate_on_start:
            await c.db.ensure_schema()
            await migrations.upgrade_service(settings, MIGRATIONS)
        registry = app.state.metrics.registry
        if settings.relay_enabled:
            app.state.relay = await work.relay(
                settings, schema=settings.schema_name, registry=registry
            )
        if settings.co_occurrence_enabled and settings.kafka_bootstrap is not None:
            app.state.consumer = Consumer(
                group=f"{CONSUMER_GROUP}-{settings.schema_name}",
                topics=[related.ORDER_PLACED_TOPIC],
                handler=related.on_order_placed,
                database=c.db,
                bootstrap=settings.kafka_bootstrap,
                metrics=ConsumerMetrics.create(registry),
            )
            work.supervise("co-occurrence", app.state.consumer.run)

    async def stop(app: FastAPI) -> None:
        await work.stop()
        close = getattr(c.auth.verifier.keys, "aclose", None)
        if close is not None:
            await close()
        await c.db.close()

    app = create_service_app(
        settings=settings,
        parts=ServiceParts(
            routers=[
                products.router,
                categories.router,
                brands.router,
                images.router,
                transfer.router,
            ],
            readiness={"postgres": c.db.ping},
            on_startup=[start],
            on_shutdown=[stop],
        ),
        description="Products, variants, categories, brands, attributes, prices, images.",
    )
    app.state.ctx = c
    app.state.relay = None
    app.state.consumer = None
    return app
