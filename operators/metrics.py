"""Prometheus metrics of the operators (served by `kommerce operator run` on --metrics-port)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Histogram

RECONCILES = Counter(
    "kommerce_operator_reconciles_total", "Reconcile passes by kind and result", ["kind", "result"]
)
RECONCILE_SECONDS = Histogram(
    "kommerce_operator_reconcile_duration_seconds",
    "Reconcile pass duration",
    ["kind"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
ERRORS = Counter(
    "kommerce_operator_errors_total", "Reconcile errors by kind and reason", ["kind", "reason"]
)
RETRIES = Counter("kommerce_operator_retries_total", "Reconciles retried after an error", ["kind"])


@contextmanager
def reconcile_timer(kind: str) -> Iterator[None]:
    started = time.perf_counter()
    result = "success"
    try:
        yield
    except Exception:
        result = "error"
        raise
    finally:
        RECONCILES.labels(kind, result).inc()
        RECONCILE_SECONDS.labels(kind).observe(time.perf_counter() - started)


SECRET_ROTATIONS = Counter(
    "kommerce_secret_rotations_total", "Secret data changes written, by source", ["source"]
)
SECRET_RESTARTS = Counter(
    "kommerce_secret_rollout_restarts_total", "Workloads restarted after a Secret rotation"
)
OPENBAO_FAILURES = Counter(
    "kommerce_openbao_failures_total", "Failed OpenBao operations by reason", ["reason"]
)
