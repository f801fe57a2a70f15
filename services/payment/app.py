"""Payment service application: `create_app()` is what `kommerce service run payment` serves.

Background work in the process: the outbox relay (`relay_enabled`: events and saga replies)
and the consumer (`consumer_enabled`) of `payment.commands.v1` (the saga participant) and
`order.shipped.v1` (capture at shipment, shipping.py).
Providers: Stripe always (stripe-mock locally through `KOMMERCE_STRIPE_API_BASE`), PayPal when
`KOMMERCE_PAYMENT_PAYPAL_CLIENT_ID` is set. Each sits behind a gateway with retries and its own
circuit breaker.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.auth.dependency import Authenticator
from kommerce.auth.setup import authenticator
from kommerce.background import Background
from kommerce.data import migrations
from kommerce.data.cache import redis_client
from kommerce.data.db import Database
from kommerce.data.redis_idempotency import RedisIdempotency
from kommerce.events.consumer import ConsumedMessage, Consumer, ConsumerMetrics
from kommerce.events.emitter import registry
from kommerce.events.serde import decode
from kommerce.http.app import ServiceParts, create_service_app
from kommerce.resilience import CircuitBreaker
from services.payment import metrics, shipping
from services.payment.api import analytics, customers, disputes, fx, payments, webhooks
from services.payment.context import PaymentContext
from services.payment.fraud import RulesEngine
from services.payment.gateway import Gateway, counts_as_failure
from services.payment.participant import TOPIC
from services.payment.providers.base import PaymentProvider
from services.payment.providers.paypal import PayPalProvider
from services.payment.providers.stripe import StripeProvider
from services.payment.settings import PaymentSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def providers(settings: PaymentSettings) -> list[PaymentProvider]:
    found: list[PaymentProvider] = [
        StripeProvider(
            settings.stripe_api_key.get_secret_value(),
            api_base=str(settings.stripe_api_base).rstrip("/")
            if settings.stripe_api_base
            else None,
            webhook_secrets=[s.get_secret_value() for s in settings.stripe_webhook_secrets],
            webhook_tolerance_seconds=settings.webhook_tolerance_seconds,
            timeout=settings.provider_timeout_seconds,
        )
    ]
    if settings.paypal_client_id:
        found.append(
            PayPalProvider(
                settings.paypal_client_id,
                settings.paypal_client_secret.get_secret_value(),
                webhook_id=settings.paypal_webhook_id,
                api_base=settings.paypal_api_base,
                timeout=settings.provider_timeout_seconds,
            )
        )
    return found


def create_app(
    settings: PaymentSettings | None = None,
    *,
    auth: Authenticator | None = None,
    provider_overrides: list[PaymentProvider] | None = None,
) -> FastAPI:
    """`provider_overrides` replaces the configured providers (tests: a PayPal provider whose
    HTTP is mocked at the boundary with respx)."""
    settings = settings or PaymentSettings()
    if settings.redis_url is None:
        raise ValueError("the payment service needs KOMMERCE_REDIS_URL (API idempotency keys)")
    db = Database(
        url=settings.async_database_url(), schema=settings.schema_name, pool_size=settings.pool_size
    )
    redis = redis_client(str(settings.redis_url))
    work = Background("payment")

    def build(registry_: object) -> PaymentContext:
        gateways = {
            p.name: Gateway(
                p,
                CircuitBreaker(
                    p.name,
                    settings.breaker_failures,
                    settings.breaker_reset_seconds,
                    counts=counts_as_failure,
                    registry=registry_,  # type: ignore[arg-type]
                ),
                settings.provider_attempts,
            )
            for p in (provider_overrides if provider_overrides is not None else providers(settings))
        }
        return PaymentContext(
            settings=settings,
            db=db,
            gateways=gateways,
            fraud=RulesEngine(settings),
            redis=redis,
            idempotency=RedisIdempotency(
                redis,
                "payment:idem",
                ttl_seconds=settings.idempotency_ttl_seconds,
                lock_seconds=settings.provider_timeout_seconds * settings.provider_attempts + 10,
                wait_seconds=settings.idempotency_wait_seconds,
            ),
        )

    async def handle(message: ConsumedMessage, session: AsyncSession) -> None:
        if message.value is None:
            return
        event = decode(registry(), key=message.key, value=message.value, headers=message.headers)
        if event.type == "saga.command":
            await app.state.payment.participant.handle(session, event)
        elif event.type == shipping.EVENT:
            await shipping.on_order_shipped(app.state.payment, session, event)

    async def start(app_: FastAPI) -> None:
        if settings.migrate_on_start:
            await migrations.upgrade_service(settings, MIGRATIONS)
        registry_ = app_.state.metrics.registry
        # Metrics are registered once per app; the context (providers with their HTTP
        # clients, breakers) is built on every start, as stop() closes it: the same app may be
        # started again (schemathesis ends the lifespan after each test).
        if getattr(app_.state, "payment_metrics", None) is None:
            app_.state.payment_metrics = metrics.PaymentMetrics(registry_)
        metrics.install(app_.state.payment_metrics)
        app_.state.payment = build(registry_)
        if settings.relay_enabled:
            await work.relay(settings, schema=settings.schema_name, registry=registry_)
        if settings.consumer_enabled and settings.kafka_bootstrap is not None:
            await work.consumer(
                Consumer(
                    group=settings.consumer_group,
                    topics=[TOPIC, registry().subject(shipping.EVENT).topic],
                    handler=handle,
                    database=db,
                    bootstrap=settings.kafka_bootstrap,
                    metrics=ConsumerMetrics.create(registry_),
                )
            )

    async def stop(app_: FastAPI) -> None:
        await work.stop()
        for gateway in app_.state.payment.gateways.values():
            await gateway.provider.aclose()
        await redis.aclose()  # type: ignore[attr-defined]  # types-redis predates aclose
        await db.close()

    async def redis_ping() -> None:
        await redis.ping()

    app = create_service_app(
        settings=settings,
        parts=ServiceParts(
            routers=[
                analytics.router,  # before payments: /v1/payments/{payment_id} would take it
                payments.router,
                customers.router,
                webhooks.router,
                disputes.router,
                fx.router,
            ],
            readiness={"postgres": db.ping, "redis": redis_ping},
            on_startup=[start],
            on_shutdown=[stop],
        ),
        description="Payments: Stripe and PayPal behind one payment model with a state "
        "history; the checkout saga's payment participant; signed webhooks, refunds, "
        "disputes, multi-currency settlement, fraud rules and payment analytics.",
    )
    app.state.db = db
    app.state.auth = auth or authenticator(settings)
    return app
