"""search application: `create_app()` is what `kommerce service run search` serves."""

from __future__ import annotations

import contextlib
from pathlib import Path

from fastapi import FastAPI

from kommerce.auth.dependency import Authenticator
from kommerce.background import Background
from kommerce.data import migrations
from kommerce.events.projection import ProjectionRunner
from kommerce.events.schemas import Registry
from kommerce.http.app import ServiceParts, create_service_app
from services.search.api import admin, search
from services.search.backend import SearchBackend
from services.search.context import SearchContext
from services.search.indexer import Indexer, projection
from services.search.settings import SearchSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(
    settings: SearchSettings | None = None,
    *,
    auth: Authenticator | None = None,
    backend: SearchBackend | None = None,
) -> FastAPI:
    settings = settings or SearchSettings()
    c = SearchContext.build(settings, auth=auth, backend=backend)
    work = Background("search")

    async def start(app: FastAPI) -> None:
        if settings.migrate_on_start:
            await migrations.upgrade_service(settings, MIGRATIONS)
        await c.backend.start()
        await c.tuning.load()
        work.every("config", settings.config_refresh_seconds, c.tuning.load)
        work.supervise(
            "analytics", lambda: c.analytics.run(settings.analytics_flush_seconds, work.stopping)
        )
        if settings.consume_events and settings.kafka_bootstrap:
            runner = ProjectionRunner(
                projection(Indexer(c.backend), Registry.load()),
                database=c.db,
                bootstrap=settings.kafka_bootstrap,
                registry=Registry.load(),
            )
            app.state.projection = runner
            # the index follows the topics; a failure (Kafka away, a topic missing) restarts it
            work.supervise("index", lambda: runner.run(work.stopping))

    async def shutdown(app: FastAPI) -> None:
        await work.stop()
        with contextlib.suppress(Exception):
            await c.analytics.flush()
        await c.backend.close()
        await c.db.close()

    app = create_service_app(
        settings=settings,
        parts=ServiceParts(
            routers=[search.router, admin.router],
            readiness={"postgres": c.db.ping},
            on_startup=[start],
            on_shutdown=[shutdown],
        ),
        description="Product search: full text with typo tolerance, facets, suggestions, "
        "synonyms, tunable ranking, analytics, personalization and A/B tests.",
    )
    app.state.ctx = c
    return app
