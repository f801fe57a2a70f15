"""SLO monitoring for a `Service`: a ServiceMonitor and multiwindow burn-rate alert rules.

The alerts follow the Google SRE workbook's multiwindow, multi-burn-rate recipe: page when the
error budget burns 14.4x too fast over 1h (confirmed over 5m) or 6x over 6h (30m), open a
ticket at 1x over 3d (6h). Both windows must agree, which keeps alerts fast and quiet.
Latency SLOs use the request-duration histogram every Kommerce service exports; the threshold
is rounded up to the nearest bucket boundary (the histogram cannot say more).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kommerce.api.v1alpha1.service import ServiceSpec
from kommerce.observability.metrics import LATENCY_BUCKETS
from operators.service.children import Manifest, Owner

MONITORING_GROUP = "monitoring.coreos.com/v1"


@dataclass(frozen=True)
class BurnWindow:
    long: str
    short: str
    factor: float
    severity: str


WINDOWS = (
    BurnWindow("1h", "5m", 14.4, "page"),
    BurnWindow("6h", "30m", 6.0, "page"),
    BurnWindow("3d", "6h", 1.0, "ticket"),
)


def latency_bucket(threshold_ms: int) -> float:
    """The smallest histogram bucket (seconds) that covers threshold_ms."""
    seconds = threshold_ms / 1000
    for bucket in LATENCY_BUCKETS:
        if bucket >= seconds:
            return bucket
    return LATENCY_BUCKETS[-1]


def _ratio_rules(service: str, spec: ServiceSpec) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    windows = sorted({w for b in WINDOWS for w in (b.long, b.short)}, key=_seconds)
    selector = f'service="{service}"'
    for window in windows:
        if spec.monitoring.availability:
            rules.append(
                {
                    "record": f"kommerce:slo_errors:ratio_rate{window}",
                    "expr": (
                        f'sum(rate(http_requests_total{{{selector},status=~"5.."}}[{window}])) / '
                        f"sum(rate(http_requests_total{{{selector}}}[{window}]))"
                    ),
                    "labels": {"service": service},
                }
            )
        if spec.monitoring.latency:
            le = latency_bucket(spec.monitoring.latency.threshold_ms)
            rules.append(
                {
                    "record": f"kommerce:slo_slow:ratio_rate{window}",
                    "expr": (
                        f"1 - (sum(rate(http_request_duration_seconds_bucket{{{selector},"
                        f'le="{le}"}}[{window}])) / '
                        f"sum(rate(http_request_duration_seconds_count{{{selector}}}[{window}])))"
                    ),
                    "labels": {"service": service},
                }
            )
    return rules


def _seconds(window: str) -> int:
    unit = {"m": 60, "h": 3600, "d": 86400}[window[-1]]
    return int(window[:-1]) * unit


def _alerts(service: str, spec: ServiceSpec) -> list[dict[str, Any]]:
    alerts = []
    objectives = []
    if spec.monitoring.availability:
        objectives.append(
            ("Errors", "slo_errors", spec.monitoring.availability.objective, "failing (5xx)")
        )
    if spec.monitoring.latency:
        objectives.append(
            (
                "Latency",
                "slo_slow",
                spec.monitoring.latency.objective,
                f"slower than {spec.monitoring.latency.threshold_ms} ms",
            )
        )
    for label, metric, objective, what in objectives:
        budget = round(1 - objective / 100, 6)
        for window in WINDOWS:
            threshold = round(window.factor * budget, 6)
            long_ratio = f'kommerce:{metric}:ratio_rate{window.long}{{service="{service}"}}'
            short_ratio = f'kommerce:{metric}:ratio_rate{window.short}{{service="{service}"}}'
            alerts.append(
                {
                    "alert": f"KommerceSLO{label}BudgetBurn",
                    "expr": f"{long_ratio} > {threshold} and {short_ratio} > {threshold}",
                    "labels": {
                        "severity": window.severity,
                        "service": service,
                        "window": window.long,
                    },
                    "annotations": {
                        "summary": (
                            f"{service} burns its {objective}% SLO budget {window.factor}x too fast"
                        ),
                        "description": (
                            f"More than {threshold * 100:.3f}% of requests were {what} over "
                            f"{window.long} and {window.short}; at this rate the "
                            "error budget is gone early. See docs/operator.md."
                        ),
                    },
                }
            )
    return alerts


def rule_groups(service: str, spec: ServiceSpec) -> list[dict[str, Any]]:
    """Prometheus rule groups (the `spec.groups` of a PrometheusRule, or a rules file)."""
    if not (spec.monitoring.availability or spec.monitoring.latency):
        return []
    return [
        {
            "name": f"kommerce-slo-{service}-recording",
            "interval": "30s",
            "rules": _ratio_rules(service, spec),
        },
        {"name": f"kommerce-slo-{service}-alerts", "rules": _alerts(service, spec)},
    ]


def prometheus_rule(owner: Owner, spec: ServiceSpec) -> Manifest | None:
    groups = rule_groups(owner.name, spec)
    if not groups:
        return None
    return {
        "apiVersion": MONITORING_GROUP,
        "kind": "PrometheusRule",
        "metadata": owner.metadata(),
        "spec": {"groups": groups},
    }


def service_monitor(owner: Owner, spec: ServiceSpec) -> Manifest:
    return {
        "apiVersion": MONITORING_GROUP,
        "kind": "ServiceMonitor",
        "metadata": owner.metadata(),
        "spec": {
            "selector": {"matchLabels": {"kommerce.io/service": owner.name}},
            "endpoints": [{"port": spec.ports[0].name, "path": "/metrics", "interval": "30s"}],
        },
    }
