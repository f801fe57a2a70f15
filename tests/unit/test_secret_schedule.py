"""What the `Secret` operator does when: plans, backoff, consumers, data shapes (no servers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes import client
from pydantic import ValidationError

from kommerce.api.v1alpha1.secret import SecretSpec, SecretStatus, seconds
from operators.secret import restart, schedule
from operators.secret.handlers import checksum, parse_status
from operators.secret.schedule import Action
from operators.secret.sources import database_data

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _plan(spec: dict[str, Any], status: dict[str, Any], **kw: Any) -> schedule.Plan:
    args: dict[str, Any] = {
        "now": NOW,
        "generation": 1,
        "rotation_request": None,
        "secret_exists": True,
    } | kw
    return schedule.plan(
        SecretSpec.model_validate(spec), SecretStatus.model_validate(status), **args
    )


SYNCED = {"version": 1, "observedGeneration": 1, "secretName": "s"}


def test_durations() -> None:
    assert seconds("1h30m") == 5400
    assert seconds("250ms") == 0.25
    with pytest.raises(ValueError, match="not a duration"):
        seconds("1 hour")


def test_exactly_one_source() -> None:
    assert SecretSpec.model_validate({"kv": {"path": "a/b"}}).source_kind() == "kv"
    with pytest.raises(ValueError, match="exactly one"):
        SecretSpec.model_validate({}).source_kind()
    with pytest.raises(ValidationError):
        SecretSpec.model_validate({"kv": {"path": "a b"}})


def test_first_sync_spec_change_and_missing_secret_issue() -> None:
    kv = {"kv": {"path": "a"}}
    assert _plan(kv, {}).action == Action.ISSUE
    assert _plan(kv, SYNCED | {"source": "kv"}, generation=2).action == Action.ISSUE
    missing = _plan(kv, SYNCED | {"source": "kv"}, secret_exists=False)
    assert (missing.action, missing.reason) == (Action.ISSUE, "Secret s is missing")
    assert _plan(kv, SYNCED | {"source": "database"}).action == Action.ISSUE  # source switched


def test_kv_refreshes_only_when_due() -> None:
    kv = {"kv": {"path": "a"}}
    status = SYNCED | {"source": "kv", "nextRefresh": NOW + timedelta(seconds=30)}
    assert _plan(kv, status).action is None
    assert _plan(kv, status, now=NOW + timedelta(seconds=31)).action == Action.REFRESH


def test_rotation_request_is_handled_once() -> None:
    kv = {"kv": {"path": "a"}}
    status = SYNCED | {"source": "kv", "nextRefresh": NOW + timedelta(hours=1)}
    assert _plan(kv, status, rotation_request="r1").action == Action.ROTATE
    handled = status | {"rotationRequest": "r1"}
    assert _plan(kv, handled, rotation_request="r1").action is None


def test_database_lease_renewed_at_two_thirds() -> None:
    db = {"database": {"role": "r"}}
    status = SYNCED | {"source": "database", "leaseId": "l", "leaseDuration": 3600}
    fresh = status | {"leaseExpiry": NOW + timedelta(seconds=3000)}
    assert _plan(db, fresh).action is None
    due = status | {"leaseExpiry": NOW + timedelta(seconds=1100)}
    assert _plan(db, due).action == Action.RENEW
    short = status | {"leaseDuration": 15, "leaseExpiry": NOW + timedelta(seconds=9)}
    assert _plan(db, short).action == Action.RENEW  # short leases keep a tick-proof margin
    assert schedule.lease_exhausted(600, 3600)  # capped by max TTL: rotate instead
    assert not schedule.lease_exhausted(3600, 3600)


def test_certificate_renewed_at_configured_fraction() -> None:
    pki = {"pki": {"commonName": "a.svc", "ttl": "100s", "renewAt": 0.5}}
    status = SYNCED | {"source": "pki", "leaseDuration": 100}
    assert _plan(pki, status | {"notAfter": NOW + timedelta(seconds=60)}).action is None
    due = _plan(pki, status | {"notAfter": NOW + timedelta(seconds=50)})
    assert due.action == Action.ROTATE


def test_superseded_leases_revoked_after_grace() -> None:
    kv = {"database": {"role": "r"}}
    status = SYNCED | {
        "source": "database",
        "leaseDuration": 3600,
        "leaseExpiry": NOW + timedelta(hours=1),
        "pendingRevocations": [
            {"leaseId": "old", "revokeAfter": NOW - timedelta(seconds=1)},
            {"leaseId": "newer", "revokeAfter": NOW + timedelta(seconds=10)},
        ],
    }
    planned = _plan(kv, status)
    assert (planned.action, planned.revoke) == (None, ["old"])


def test_backoff_doubles_to_a_cap() -> None:
    delays = [schedule.backoff(n, jitter=0) for n in range(1, 10)]
    assert delays[:5] == [5, 10, 20, 40, 80]
    assert max(delays) == schedule.BACKOFF_MAX
    status = SecretStatus(failures=3, next_attempt=NOW + timedelta(seconds=5))
    assert schedule.in_backoff(status, NOW)
    assert not schedule.in_backoff(status, NOW + timedelta(seconds=6))


def test_unknown_status_fields_are_ignored() -> None:
    assert parse_status({"version": 3, "somethingNew": 1}).version == 3


def test_checksum_is_order_independent() -> None:
    assert checksum({"a": "1", "b": "2"}) == checksum({"b": "2", "a": "1"})
    assert checksum({"a": "1"}) != checksum({"a": "2"})


def test_database_data_with_connection() -> None:
    from kommerce.api.v1alpha1.secret import Connection

    data = database_data("v-x", "p@ss", Connection(host="db", port=5432, database="shop"))
    assert data["DATABASE_URL"] == "postgresql://v-x:p%40ss@db:5432/shop"
    assert data["PGUSER"] == "v-x"
    assert database_data("u", "p", None) == {"username": "u", "password": "p"}


def _pod(**kw: Any) -> client.V1PodSpec:
    return client.V1PodSpec(containers=[client.V1Container(name="app", **kw)], **{})


def test_consumers_found_by_every_reference_kind() -> None:
    env_from = _pod(
        env_from=[client.V1EnvFromSource(secret_ref=client.V1SecretEnvSource(name="s"))]
    )
    key_ref = _pod(
        env=[
            client.V1EnvVar(
                name="X",
                value_from=client.V1EnvVarSource(
                    secret_key_ref=client.V1SecretKeySelector(name="s", key="k")
                ),
            )
        ]
    )
    volume = client.V1PodSpec(
        containers=[client.V1Container(name="app")],
        volumes=[client.V1Volume(name="v", secret=client.V1SecretVolumeSource(secret_name="s"))],
    )
    other = _pod(env_from=[client.V1EnvFromSource(secret_ref=client.V1SecretEnvSource(name="t"))])
    assert all(restart.uses_secret(p, "s") for p in (env_from, key_ref, volume))
    assert not restart.uses_secret(other, "s")


def test_annotation_key_stays_valid_for_long_names() -> None:
    key = restart.annotation_key("x" * 200)
    assert len(key.split("/", 1)[1]) <= 63
    assert restart.annotation_key("db") == "secret.kommerce.io/db"
