"""platform-api application: `create_app()` is what `kommerce service run platform-api` serves."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from kommerce.http.app import ServiceParts, create_service_app
from services.platform_api.api import router
from services.platform_api.cluster import ClusterReader
from services.platform_api.settings import PlatformApiSettings


def create_app(settings: PlatformApiSettings | None = None) -> FastAPI:
    settings = settings or PlatformApiSettings()
    reader = ClusterReader(
        kubeconfig=Path(settings.kubeconfig) if settings.kubeconfig else None,
        timeout=settings.kube_timeout_seconds,
    )

    async def close(app: FastAPI) -> None:
        reader.close()

    app = create_service_app(
        settings=settings,
        parts=ServiceParts(
            routers=[router],
            readiness={"kubernetes": reader.ping},
            on_shutdown=[close],
        ),
        description="The platform's own API: cluster facts, environments, rollouts.",
    )
    app.state.cluster = reader
    return app
