"""Prometheus metrics for HTTP services: one registry per app, RED metrics by route template.

Labelling by the route template (`/v1/items/{id}`), never the raw path, keeps cardinality
bounded whatever clients request.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    gc_collector,
    platform_collector,
    process_collector,
)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class HttpMetrics:
    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    in_flight: Gauge


def http_metrics(service: str) -> HttpMetrics:
    registry = CollectorRegistry()
    process_collector.ProcessCollector(registry=registry)
    platform_collector.PlatformCollector(registry=registry)
    gc_collector.GCCollector(registry=registry)
    labels = ["service", "method", "route", "status"]
    return HttpMetrics(
        registry=registry,
        requests=Counter("http_requests_total", "HTTP requests handled", labels, registry=registry),
        latency=Histogram(
            "http_request_duration_seconds",
            "HTTP request latency",
            ["service", "method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        in_flight=Gauge(
            "http_requests_in_flight", "HTTP requests being handled", ["service"], registry=registry
        ),
    )
