"""user application: `create_app()` is what `kommerce service run user` serves."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from fastapi import FastAPI

from kommerce.data import migrations
from kommerce.http.app import ServiceParts, create_service_app
from services.user.api import admin, auth, me, oauth
from services.user.context import UserContext
from services.user.settings import UserSettings

MIGRATIONS = Path(__file__).parent / "migrations"
KEY_RELOAD_SECONDS = 30
log = logging.getLogger("kommerce.user")


def create_app(settings: UserSettings | None = None) -> FastAPI:
    settings = settings or UserSettings()
    c = UserContext.build(settings)
    tasks: list[asyncio.Task[None]] = []

    async def start(app: FastAPI) -> None:
        if settings.migrate_on_start:
            await migrations.upgrade_service(settings, MIGRATIONS)
        await c.signing.ensure(rotate_after=c.rotate_after)
        tasks.append(asyncio.create_task(keep_keys_fresh(), name="signing-keys"))

    async def keep_keys_fresh() -> None:
        """Pick up other replicas' rotations; rotate when the key is due."""
        while True:
            await asyncio.sleep(KEY_RELOAD_SECONDS)
            try:
                await c.signing.ensure(rotate_after=c.rotate_after)
            except Exception:
                log.exception("reloading signing keys failed; will retry")

    async def stop(app: FastAPI) -> None:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        flow = getattr(app.state, "oauth_flow", None)
        if flow is not None:
            await flow.aclose()
        await c.redis.aclose()  # type: ignore[attr-defined]  # types-redis predates aclose
        await c.db.close()

    async def redis_ping() -> None:
        await c.redis.ping()

    app = create_service_app(
        settings=settings,
        parts=ServiceParts(
            routers=[auth.router, me.router, admin.router, oauth.router],
            readiness={"postgres": c.db.ping, "redis": redis_ping},
            on_startup=[start],
            on_shutdown=[stop],
        ),
        description="Accounts, sign-in, tokens, two-factor, roles, sessions, profiles, audit.",
    )
    app.state.ctx = c
    return app
