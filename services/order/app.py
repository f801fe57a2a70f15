"""order application: `create_app()` is what `kommerce service run order` serves.

Background work in the process: the outbox relay (`relay_enabled`), one consumer for the
catalog projection, saga replies and the customer read model (`consumer_enabled`), and the
saga timeout check.
"""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
from fastapi import FastAPI

from kommerce.auth.dependency import Authenticator
from kommerce.background import Background
from kommerce.data import migrations
from kommerce.events.consumer import Consumer, ConsumerMetrics
from kommerce.http.app import ServiceParts, create_service_app
from services.order import aftersale, catalog, checkout_saga, invoicing
from services.order.api import cart as cart_api
from services.order.api import config as config_api
from services.order.api import documents as documents_api
from services.order.api import orders as orders_api
from services.order.consumers import Dispatcher, Subscription
from services.order.context import OrderContext
from services.order.settings import OrderSettings

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger("kommerce.order")


def subscriptions(c: OrderContext) -> list[Subscription]:
    """Every event the service consumes (each area adds its own)."""
    return [
        Subscription(catalog.CHANGED, catalog.TOPICS[catalog.CHANGED], catalog.product_changed),
        Subscription(catalog.DELETED, catalog.TOPICS[catalog.DELETED], catalog.product_deleted),
        Subscription(
            "saga.reply",
            (checkout_saga.REPLY_TOPIC,),
            lambda event, session: c.checkout.saga.on_reply(event, session),
        ),
        *aftersale.subscriptions(c),
    ]


async def checkout_timeouts(c: OrderContext) -> None:
    async with c.db.session() as session:
        await c.checkout.saga.on_timeouts(session)


def create_app(
    settings: OrderSettings | None = None,
    *,
    auth: Authenticator | None = None,
    http: httpx.AsyncClient | None = None,
) -> FastAPI:
    """`http`: the client for calls to other services (tests bind one to in-process apps)."""
    settings = settings or OrderSettings()
    c = OrderContext.build(settings, auth, http)
    work = Background("order")

    async def start(app: FastAPI) -> None:
        if settings.migrate_on_start:
            await migrations.upgrade_service(settings, MIGRATIONS)
        registry = app.state.metrics.registry
        if settings.relay_enabled:
            await work.relay(settings, schema=settings.schema_name, registry=registry)
        work.every(
            "checkout-saga-timeouts",
            settings.saga_timeout_check_seconds,
            lambda: checkout_timeouts(c),
        )
        if settings.invoicing_enabled:
            work.every(
                "invoices", settings.invoice_interval_seconds, lambda: invoicing.issue_due(c)
            )
        work.every(
            "aftersale-sagas", settings.saga_timeout_check_seconds, lambda: aftersale.timeouts(c)
        )
        dispatcher = Dispatcher(subscriptions(c))
        if settings.consumer_enabled and settings.kafka_bootstrap and dispatcher.topics:
            await work.consumer(
                Consumer(
                    group=settings.consumer_group,
                    topics=dispatcher.topics,
                    handler=dispatcher,
                    database=c.db,
                    bootstrap=settings.kafka_bootstrap,
                    metrics=ConsumerMetrics.create(registry),
                )
            )

    async def stop(app: FastAPI) -> None:
        await work.stop()
        await c.close()

    async def redis_ping() -> None:
        await c.redis.ping()

    app = create_service_app(
        settings=settings,
        parts=ServiceParts(
            routers=[
                cart_api.router,
                config_api.router,
                orders_api.router,
                *aftersale.ROUTERS,
                documents_api.router,
            ],
            readiness={"postgres": c.db.ping, "redis": redis_ping},
            on_startup=[start],
            on_shutdown=[stop],
        ),
        description="Carts, checkout with the checkout saga, orders and their state machine, "
        "tracking, returns and refunds, invoices.",
    )
    app.state.ctx = c
    app.state.background = work
    return app
