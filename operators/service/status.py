"""From observations to the `Service` status: pure decisions, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from operators.conditions import Observed


@dataclass(frozen=True)
class Observation:
    """What the reconciler saw in one pass."""

    applied: bool
    apply_error: str | None
    deployment_status: dict[str, Any] | None
    desired_replicas: int
    external_errors: list[str] = field(default_factory=list)


def _available(status: dict[str, Any] | None) -> tuple[bool, str]:
    if not status:
        return False, "the Deployment has no status yet"
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Available":
            return cond.get("status") == "True", cond.get("message", "")
    return False, "the Deployment reports no Available condition yet"


def conditions(obs: Observation) -> list[Observed]:
    ready_replicas = int((obs.deployment_status or {}).get("readyReplicas") or 0)
    updated = int((obs.deployment_status or {}).get("updatedReplicas") or 0)
    available, detail = _available(obs.deployment_status)
    rolled_out = (
        available and updated >= obs.desired_replicas and ready_replicas >= obs.desired_replicas
    )
    synced = Observed(
        "Synced",
        obs.applied and not obs.external_errors,
        "ReconcileSucceeded" if obs.applied and not obs.external_errors else "ReconcileFailed",
        "; ".join(filter(None, [obs.apply_error, *obs.external_errors])),
    )
    if obs.external_errors:
        degraded = Observed(
            "Degraded", True, "DependencyUnavailable", "; ".join(obs.external_errors)
        )
    elif obs.apply_error:
        degraded = Observed("Degraded", True, "ApplyFailed", obs.apply_error)
    else:
        degraded = Observed("Degraded", False, "AsExpected")
    if obs.external_errors or obs.apply_error:
        ready = Observed("Ready", False, degraded.reason, degraded.message)
        progressing = Observed("Progressing", False, degraded.reason)
    elif rolled_out:
        ready = Observed(
            "Ready", True, "Available", f"{ready_replicas}/{obs.desired_replicas} replicas ready"
        )
        progressing = Observed("Progressing", False, "RolloutComplete")
    else:
        ready = Observed(
            "Ready",
            False,
            "RollingOut",
            f"{ready_replicas}/{obs.desired_replicas} replicas ready; {detail}".strip(),
        )
        progressing = Observed("Progressing", True, "RollingOut", detail)
    return [ready, progressing, degraded, synced]
