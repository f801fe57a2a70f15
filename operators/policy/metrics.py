"""Prometheus metrics of policies (served with the operator's on --metrics-port)."""

from __future__ import annotations

import contextlib

from prometheus_client import Counter, Gauge, Histogram

ADMISSION_REQUESTS = Counter(
    "kommerce_policy_admission_requests_total",
    "Admission requests judged by the policy webhook, by webhook and decision "
    "(allowed, warned, denied, error)",
    ["webhook", "decision"],
)
ADMISSION_SECONDS = Histogram(
    "kommerce_policy_admission_duration_seconds",
    "Time from receiving an AdmissionReview to answering it",
    ["webhook"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
ADMISSION_VIOLATIONS = Counter(
    "kommerce_policy_admission_violations_total",
    "Violations found at admission, by policy and enforcement action",
    ["policy", "enforcement_action"],
)
VIOLATIONS = Gauge(
    "kommerce_policy_violations",
    "Violations found by the last audit, by policy and enforcement action",
    ["policy", "enforcement_action"],
)
AUDIT_SECONDS = Histogram(
    "kommerce_policy_audit_duration_seconds",
    "Duration of one policy's audit",
    ["policy"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
TESTS_FAILED = Gauge(
    "kommerce_policy_tests_failed", "Failing tests of the policy's latest spec", ["policy"]
)


def forget(policy: str) -> None:
    """Drop a deleted policy's series."""
    for action in ("deny", "warn", "dryrun"):
        with contextlib.suppress(KeyError):
            VIOLATIONS.remove(policy, action)
        with contextlib.suppress(KeyError):
            ADMISSION_VIOLATIONS.remove(policy, action)
    with contextlib.suppress(KeyError):
        TESTS_FAILED.remove(policy)
    with contextlib.suppress(KeyError):
        AUDIT_SECONDS.remove(policy)
