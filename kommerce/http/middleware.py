"""One ASGI middleware for request ids, traces, metrics and the access log.

It is plain ASGI (not Starlette's BaseHTTPMiddleware) so streaming responses and background
tasks are untouched, and it wraps exception handlers, so problem+json errors are counted too.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kommerce.http.errors import PROBLEM_BASE, PROBLEM_JSON
from kommerce.observability.logging import request_id_var, trace_id_var
from kommerce.observability.metrics import HttpMetrics
from kommerce.observability.tracing import current_trace_id

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
access_log = logging.getLogger("kommerce.access")


class ObservabilityMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str,
        metrics: HttpMetrics,
        tracer: trace.Tracer,
        quiet_paths: frozenset[str],
    ) -> None:
        self.app = app
        self.service = service
        self.metrics = metrics
        self.tracer = tracer
        self.quiet_paths = quiet_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        incoming = headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        rid_token = request_id_var.set(request_id)
        method = scope["method"]
        status = 500
        started = time.perf_counter()
        ctx = propagate.extract(headers)
        self.metrics.in_flight.labels(self.service).inc()
        with self.tracer.start_as_current_span(
            f"{method} {scope['path']}", context=ctx, kind=SpanKind.SERVER
        ) as span:
            tid_token = trace_id_var.set(current_trace_id())

            status_sent = False

            async def send_wrapper(message: Message) -> None:
                nonlocal status, status_sent
                if message["type"] == "http.response.start":
                    status = message["status"]
                    status_sent = True
                    extra = [(REQUEST_ID_HEADER.encode(), request_id.encode())]
                    carrier: dict[str, Any] = {}
                    propagate.inject(carrier)
                    extra += [(k.encode(), str(v).encode()) for k, v in carrier.items()]
                    message["headers"] = list(message.get("headers", [])) + extra
                await send(message)

            try:
                await self.app(scope, receive, send_wrapper)
            except Exception:
                # Reached only for errors no handler turned into a response. Answering here
                # (not in Starlette's outermost middleware) keeps the ids on the 500 response.
                access_log.exception("unhandled error", extra={"path": scope["path"]})
                if status_sent:
                    raise
                await _internal_error(scope, send_wrapper, request_id)
            finally:
                route = _route_template(scope)
                elapsed = time.perf_counter() - started
                span.update_name(f"{method} {route}")
                span.set_attribute("http.request.method", method)
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
                self.metrics.requests.labels(self.service, method, route, str(status)).inc()
                self.metrics.latency.labels(self.service, method, route).observe(elapsed)
                self.metrics.in_flight.labels(self.service).dec()
                if scope["path"] not in self.quiet_paths:
                    access_log.info(
                        "%s %s %s",
                        method,
                        scope["path"],
                        status,
                        extra={
                            "method": method,
                            "route": route,
                            "status": status,
                            "duration_ms": round(elapsed * 1000, 2),
                        },
                    )
                trace_id_var.reset(tid_token)
                request_id_var.reset(rid_token)


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "<unmatched>"


async def _internal_error(scope: Scope, send: Send, request_id: str) -> None:
    body = json.dumps(
        {
            "type": PROBLEM_BASE + "internal-error",
            "title": "Internal server error",
            "status": 500,
            "instance": scope["path"],
            "detail": "An unexpected error occurred; quote the requestId when reporting it.",
            "requestId": request_id,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
