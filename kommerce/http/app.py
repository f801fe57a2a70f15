"""The app factory every Kommerce HTTP service is built with.

It gives each service the same outside: `/healthz`, `/readyz` (real dependency checks),
`/metrics`, OpenAPI at `/docs`, problem+json errors, request/trace ids in JSON logs, and a
lifespan that opens resources at start and closes them on shutdown (uvicorn drains requests on
SIGTERM within the settings' shutdown timeout, then the lifespan closes pools).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from kommerce import __version__
from kommerce.http.errors import install_problem_handlers
from kommerce.http.health import ReadinessCheck, run_checks
from kommerce.http.middleware import ObservabilityMiddleware
from kommerce.observability.logging import configure_logging
from kommerce.observability.metrics import http_metrics
from kommerce.observability.tracing import configure_tracing
from kommerce.settings import ServiceSettings

Hook = Callable[[FastAPI], Awaitable[None]]
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
log = logging.getLogger("kommerce.app")


@dataclass
class ServiceParts:
    """What a service contributes: routers, readiness checks, start/stop hooks."""

    routers: Sequence[APIRouter] = ()
    readiness: dict[str, ReadinessCheck] = field(default_factory=dict)
    on_startup: Sequence[Hook] = ()
    on_shutdown: Sequence[Hook] = ()


def create_service_app(
    *, settings: ServiceSettings, parts: ServiceParts, description: str = ""
) -> FastAPI:
    name = settings.service_name
    configure_logging(service=name, level=settings.log_level, fmt=settings.log_format)
    tracer = configure_tracing(service=name, console=settings.trace_console)
    metrics = http_metrics(name)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for hook in parts.on_startup:
            await hook(app)
        log.info("service started", extra={"version": __version__})
        try:
            yield
        finally:
            for hook in reversed(parts.on_shutdown):
                try:
                    await hook(app)
                except Exception:
                    log.exception("shutdown hook failed")
            log.info("service stopped")

    app = FastAPI(
        title=f"Kommerce {name}", version=__version__, description=description, lifespan=lifespan
    )
    app.state.settings = settings
    app.state.metrics = metrics
    install_problem_handlers(app)

    @app.get("/healthz", tags=["health"], summary="Liveness: the process serves requests")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": name}

    @app.get("/readyz", tags=["health"], summary="Readiness: every dependency answers")
    async def readyz() -> JSONResponse:
        results = await run_checks(
            parts.readiness, limit_seconds=settings.readiness_timeout_seconds
        )
        ok = all(r.ok for r in results)
        body = {
            "status": "ok" if ok else "unavailable",
            "checks": {
                r.name: {"ok": r.ok, "detail": r.detail, "ms": round(r.seconds * 1000, 1)}
                for r in results
            },
        }
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    for router in parts.routers:
        app.include_router(router)
    app.add_middleware(
        ObservabilityMiddleware,
        service=name,
        metrics=metrics,
        tracer=tracer,
        quiet_paths=QUIET_PATHS,
    )
    return app
