"""search application: `create_app()` is what `kommerce service run search` serves."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI

from kommerce.auth.dependency import Authenticator
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
RESTART_SECONDS = 5.0
log = logging.getLogger("kommerce.search")


def create_app(
    settings: SearchSettings | None = None,
    *,
    auth: Authenticator | None = None,
    backend: SearchBackend | None = None,
) -> FastAPI:
    settings = settings or SearchSettings()
    c = SearchContext.build(settings, auth=auth, backend=backend)
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    async def start(app: FastAPI) -> None:
        stop.clear()
        if settings.migrate_on_start:
            await asyncio.to_thread(
                migrations.upgrade,
                script_location=MIGRATIONS,
                url=settings.async_database_url(),
                schema=settings.schema_name,
            )
        await c.backend.start()
        await c.tuning.load()
        tasks.append(_forever("config", c.tuning.load, settings.config_refresh_seconds))
        tasks.append(
            asyncio.create_task(
                c.analytics.run(settings.analytics_flush_seconds, stop), name="analytics"
            )
        )
        if settings.consume_events and settings.kafka_bootstrap:
            runner = ProjectionRunner(
                projection(Indexer(c.backend), Registry.load()),
                database=c.db,
                bootstrap=settings.kafka_bootstrap,
                registry=Registry.load(),
            )
            app.state.projection = runner
            tasks.append(asyncio.create_task(_keep_running(runner), name="search-index"))

    async def _keep_running(runner: ProjectionRunner) -> None:
        """The index follows the topics; a failure (Kafka away, topic missing) restarts it."""
        while not stop.is_set():
            try:
                await runner.run(stop)
            except Exception:
                log.exception("search index projection failed; restarting")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=RESTART_SECONDS)

    def _forever(name: str, job: Callable[[], Awaitable[None]], every: float) -> asyncio.Task[None]:
        async def loop() -> None:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=every)
                try:
                    await job()
                except Exception:
                    log.exception("%s refresh failed; will retry", name)

        return asyncio.create_task(loop(), name=name)

    async def shutdown(app: FastAPI) -> None:
        stop.set()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=10)
        tasks.clear()
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
