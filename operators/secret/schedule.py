"""When a `Secret` needs OpenBao next, and what to do then: pure functions of spec and status.

One periodic timer calls `plan` for every resource; it returns the single action that is due
now (or None), so an idle resource costs no OpenBao call at all. Failures move `nextAttempt`
out exponentially (5 s doubling to 5 min), which bounds the calls made while OpenBao is broken.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from kommerce.api.v1alpha1.secret import SecretSpec, SecretStatus, seconds

BACKOFF_BASE = 5.0
BACKOFF_MAX = 300.0
LEASE_RENEW_FRACTION = 2 / 3  # renew a lease once two thirds of it have passed
# ...and never later than this before it ends: the timer ticks every 5 s, and a renewal that
# lands after the end is too late (PostgreSQL's VALID UNTIL has passed by then).
LEASE_MARGIN_SECONDS = 10.0


class Action(StrEnum):
    ISSUE = "issue"  # first sync, or the spec changed: fetch fresh data
    ROTATE = "rotate"  # replace the data (requested, or the lease/cert cannot be extended)
    RENEW = "renew"  # extend the current database lease
    REFRESH = "refresh"  # re-read KV / check the transit key's schedule


@dataclass(frozen=True)
class Plan:
    action: Action | None
    reason: str
    revoke: list[str]  # superseded lease ids whose grace period is over


def backoff(failures: int, *, jitter: float | None = None) -> float:
    """Seconds to wait after `failures` consecutive failures (±10 % jitter)."""
    delay = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** max(0, failures - 1))
    spread = random.uniform(-0.1, 0.1) if jitter is None else jitter  # noqa: S311  # nosec B311 - jitter, not crypto
    return float(delay * (1 + spread))


def renew_due(status: SecretStatus, now: datetime) -> bool:
    if status.lease_expiry is None or not status.lease_duration:
        return True
    remaining = (status.lease_expiry - now).total_seconds()
    margin = max(status.lease_duration * (1 - LEASE_RENEW_FRACTION), LEASE_MARGIN_SECONDS)
    return remaining <= margin


def lease_exhausted(lease_duration_after_renew: int, original: int) -> bool:
    """A renewal that returned much less than asked hits the role's max TTL: rotate instead."""
    return lease_duration_after_renew < original * (1 - LEASE_RENEW_FRACTION)


def certificate_due(spec: SecretSpec, status: SecretStatus, now: datetime) -> bool:
    assert spec.pki is not None
    if status.not_after is None:
        return True
    lifetime = status.lease_duration or seconds(spec.pki.ttl)
    renew_at = status.not_after - timedelta(seconds=lifetime * (1 - spec.pki.renew_at))
    return now >= renew_at


def plan(
    spec: SecretSpec,
    status: SecretStatus,
    *,
    now: datetime,
    generation: int | None,
    rotation_request: str | None,
    secret_exists: bool,
) -> Plan:
    revoke = [p.lease_id for p in status.pending_revocations if p.revoke_after <= now]
    kind = spec.source_kind()
    action: Action | None = None
    reason = ""
    if status.version is None or status.source != kind:
        action, reason = Action.ISSUE, "first sync"
    elif status.observed_generation != generation:
        action, reason = Action.ISSUE, f"spec changed (generation {generation})"
    elif not secret_exists:
        action, reason = Action.ISSUE, f"Secret {status.secret_name} is missing"
    elif rotation_request and rotation_request != status.rotation_request:
        action, reason = Action.ROTATE, f"rotation requested ({rotation_request})"
    elif kind == "database" and renew_due(status, now):
        action, reason = Action.RENEW, "lease two-thirds used"
    elif kind == "pki" and certificate_due(spec, status, now):
        action, reason = Action.ROTATE, "certificate reached its renewal point"
    elif kind in ("kv", "transit") and (status.next_refresh is None or now >= status.next_refresh):
        action, reason = Action.REFRESH, "refresh interval passed"
    return Plan(action=action, reason=reason, revoke=revoke)


def in_backoff(status: SecretStatus, now: datetime) -> bool:
    return bool(status.failures) and status.next_attempt is not None and now < status.next_attempt
