"""OpenTelemetry tracing: a tracer provider per process and W3C trace context propagation.

Spans are exported over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set and the exporter
package is installed, to the console when `KOMMERCE_TRACE_CONSOLE=true`, and otherwise only
created (their ids still reach the logs, which is what correlates a request locally).
"""

from __future__ import annotations

import importlib.util
import os

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

_configured: set[str] = set()


def configure_tracing(*, service: str, console: bool = False) -> trace.Tracer:
    if service not in _configured and not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") and importlib.util.find_spec(
            "opentelemetry.exporter.otlp"
        ):
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found]
                OTLPSpanExporter,
            )

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        if console:
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        trace.set_tracer_provider(provider)
        _configured.add(service)
    return trace.get_tracer(service)


def current_trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None
