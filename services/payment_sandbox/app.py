"""payment-sandbox application: `create_app()` is what `kommerce service run payment-sandbox`
serves. A sandbox participant following the payment command contract until the payment service
(issue 9) replaces it; no money moves (participant.py).

Background work in the process: the outbox relay (`relay_enabled`; the saga replies) and the
consumer of `payment.commands.v1` (`consumer_enabled`).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.auth.dependency import Authenticator
from kommerce.auth.setup import authenticator
from kommerce.background import Background
from kommerce.data import migrations
from kommerce.data.db import Database
from kommerce.events.consumer import ConsumedMessage, Consumer, ConsumerMetrics
from kommerce.events.emitter import registry
from kommerce.events.serde import decode
from kommerce.http.app import ServiceParts, create_service_app
from services.payment_sandbox import api
from services.payment_sandbox.participant import TOPIC, participant
from services.payment_sandbox.settings import PaymentSandboxSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(
    settings: PaymentSandboxSettings | None = None, *, auth: Authenticator | None = None
) -> FastAPI:
    settings = settings or PaymentSandboxSettings()
    db = Database(
        url=settings.async_database_url(), schema=settings.schema_name, pool_size=settings.pool_size
    )
    work = Background("payment-sandbox")
    commands = participant()

    async def handle(message: ConsumedMessage, session: AsyncSession) -> None:
        if message.value is None:
            return
        event = decode(registry(), key=message.key, value=message.value, headers=message.headers)
        if event.type == "saga.command":
            await commands.handle(session, event)

    async def start(app: FastAPI) -> None:
        if settings.migrate_on_start:
            await migrations.upgrade_service(settings, MIGRATIONS)
        metrics = app.state.metrics.registry
        if settings.relay_enabled:
            await work.relay(settings, schema=settings.schema_name, registry=metrics)
        if settings.consumer_enabled and settings.kafka_bootstrap is not None:
            await work.consumer(
                Consumer(
                    group=settings.consumer_group,
                    topics=[TOPIC],
                    handler=handle,
                    database=db,
                    bootstrap=settings.kafka_bootstrap,
                    metrics=ConsumerMetrics.create(metrics),
                )
            )

    async def stop(app: FastAPI) -> None:
        await work.stop()
        await db.close()

    app = create_service_app(
        settings=settings,
        parts=ServiceParts(
            routers=[api.router],
            readiness={"postgres": db.ping},
            on_startup=[start],
            on_shutdown=[stop],
        ),
        description="A sandbox payment participant of the checkout and refund sagas (Stripe "
        "test payment methods decide the outcome) until the payment service replaces it. "
        "No money moves.",
    )
    app.state.db = db
    app.state.auth = auth or authenticator(settings)
    return app
