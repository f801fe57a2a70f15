"""Kopf handlers for `Secret`: sync from OpenBao, renew, rotate, restart consumers, revoke.

A create or spec change syncs at once; a 5-second timer asks `schedule.plan` what is due and
does nothing (no OpenBao call) when nothing is. One lock per resource keeps the timer and a
change handler from issuing two sets of credentials at the same moment. The core Secret is
only ever written with fresh data: when OpenBao fails, the last good Secret stays untouched,
the resource turns Degraded with the reason, and the next attempt backs off exponentially.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
from pydantic import ValidationError

from kommerce.api.crd import GROUP, VERSION
from kommerce.api.v1alpha1.common import DeletionPolicy
from kommerce.api.v1alpha1.secret import PendingRevocation, SecretSpec, SecretStatus, seconds
from kommerce.openbao.client import OpenBao, OpenBaoRefused, OpenBaoUnavailable
from operators import conditions, metrics
from operators.apply import Applier
from operators.labels import MANAGER, owner_reference
from operators.secret import restart, sources
from operators.secret.schedule import Action, Plan, backoff, in_backoff, lease_exhausted, plan

PLURAL = "secrets"
KIND = "Secret"
TICK_SECONDS = 5.0
ROTATE_ANNOTATION = "kommerce.io/rotate"
CHECKSUM_ANNOTATION = "kommerce.io/checksum"
SECRET_LABEL = "kommerce.io/secret"  # noqa: S105  # nosec B105 - a label key
log = logging.getLogger("kommerce.operator.secret")


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def checksum(data: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def parse_status(raw: dict[str, Any]) -> SecretStatus:
    """The status as last written (fields this version does not know are ignored)."""
    known = {f.alias or name for name, f in SecretStatus.model_fields.items()}
    return SecretStatus.model_validate({k: v for k, v in raw.items() if k in known})


def _status_patch(status: SecretStatus) -> dict[str, Any]:
    dumped: dict[str, Any] = status.model_dump(by_alias=True, mode="json")
    dumped.pop("conditions")
    return dumped


def _core_secret(
    body: kopf.Body, name: str, fetched: sources.Fetched, digest: str
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": fetched.secret_type,
        "metadata": {
            "name": name,
            "namespace": body["metadata"]["namespace"],
            "labels": {
                "app.kubernetes.io/managed-by": MANAGER,
                "app.kubernetes.io/part-of": "kommerce",
                SECRET_LABEL: body["metadata"]["name"],
            },
            "annotations": {CHECKSUM_ANNOTATION: digest},
            "ownerReferences": [owner_reference(dict(body))],
        },
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in sorted(fetched.data.items())},
    }


async def _fetch(
    bao: OpenBao, spec: SecretSpec, status: SecretStatus, todo: Plan
) -> sources.Fetched | None:
    """Do the planned action; returns new data, or None when only the lease was extended."""
    action = todo.action
    if spec.kv is not None:
        return await sources.read_kv(bao, spec.kv)
    if spec.transit is not None:
        return await sources.ensure_transit(bao, spec.transit, rotate=action == Action.ROTATE)
    if spec.pki is not None:
        return await sources.issue_certificate(bao, spec.pki)
    assert spec.database is not None
    if action == Action.RENEW and status.lease_id and status.lease_duration:
        try:
            granted = await sources.renew_lease(bao, status.lease_id, status.lease_duration)
        except OpenBaoRefused as exc:  # expired or revoked behind our back: issue new ones
            log.warning("lease renewal refused; issuing new credentials", extra={"error": str(exc)})
            return await sources.issue_database(bao, spec.database)
        if lease_exhausted(granted, status.lease_duration):
            return await sources.issue_database(bao, spec.database)  # at max TTL: rotate
        status.lease_expiry = _now() + timedelta(seconds=granted)
        return None
    return await sources.issue_database(bao, spec.database)


async def _revoke(bao: OpenBao, lease_ids: list[str]) -> None:
    for lease_id in lease_ids:
        try:
            await sources.revoke_lease(bao, lease_id)
        except OpenBaoRefused as exc:  # already gone (expired or revoked): nothing to do
            log.info("lease already gone", extra={"lease": lease_id, "error": str(exc)})


def _conditions(
    body: kopf.Body, status: SecretStatus, *, error: tuple[str, str] | None
) -> list[dict[str, Any]]:
    has_data = status.version is not None
    observed = [
        conditions.Observed(
            "Ready",
            has_data,
            "Synced" if has_data else (error[0] if error else "Pending"),
            (
                f"Secret {status.secret_name} holds version {status.version}"
                + (" (last good data kept; see Degraded)" if error else "")
                if has_data
                else (error[1] if error else "waiting for the first sync")
            ),
        ),
        conditions.Observed(
            "Synced",
            error is None,
            "Synced" if error is None else error[0],
            "" if error is None else error[1],
        ),
        conditions.Observed(
            "Degraded",
            error is not None,
            error[0] if error else "Healthy",
            (
                f"{error[1]}; next attempt at {status.next_attempt:%H:%M:%S} "
                f"(attempt {status.failures}, backing off)"
                if error and status.next_attempt
                else ""
            ),
        ),
    ]
    previous = list(body.get("status", {}).get("conditions", []))
    return conditions.merge(previous, observed, generation=body["metadata"].get("generation"))


def _events(body: kopf.Body, new_conditions: list[dict[str, Any]]) -> None:
    before = {c.get("type"): c.get("status") for c in body.get("status", {}).get("conditions", [])}
    for cond in new_conditions:
        if cond["type"] != "Degraded" or before.get("Degraded") == cond["status"]:
            continue
        if cond["status"] == "True":
            kopf.warn(body, reason=cond["reason"], message=cond["message"])
        elif before.get("Degraded") == "True":
            kopf.info(body, reason="Recovered", message="OpenBao is reachable again")


async def sync(
    *, body: kopf.Body, patch: kopf.Patch, applier: Applier, bao: OpenBao | None, force: bool
) -> None:
    name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
    generation = body["metadata"].get("generation")
    try:
        spec = SecretSpec.model_validate(dict(body.get("spec", {})))
    except ValidationError as exc:
        patch.status["conditions"] = conditions.merge(
            list(body.get("status", {}).get("conditions", [])),
            [conditions.Observed("Ready", False, "InvalidSpec", str(exc)[:1000])],
            generation=generation,
        )
        raise kopf.PermanentError(f"invalid spec: {exc}") from exc
    status = parse_status(dict(body.get("status", {})))
    now = _now()
    if not force and in_backoff(status, now):
        return
    secret_name = spec.secret_name or name
    existing = await applier.get("v1", "Secret", secret_name, namespace)
    todo = plan(
        spec,
        status,
        now=now,
        generation=generation,
        rotation_request=(body["metadata"].get("annotations") or {}).get(ROTATE_ANNOTATION),
        secret_exists=existing is not None,
    )
    if todo.action is None and not todo.revoke:
        return
    kind = spec.source_kind()
    error: tuple[str, str] | None = None
    with metrics.reconcile_timer(KIND):
        try:
            if bao is None:
                raise OpenBaoUnavailable("the operator has no OpenBao (set KOMMERCE_VAULT_ADDR)")
            if todo.revoke:
                await _revoke(bao, todo.revoke)
                status.pending_revocations = [
                    p for p in status.pending_revocations if p.lease_id not in todo.revoke
                ]
            fetched = await _fetch(bao, spec, status, todo) if todo.action else None
            if fetched is not None:
                await _write(body, applier, spec, status, fetched, secret_name, todo, existing)
            status.failures, status.next_attempt = 0, None
            status.last_synced = now
            status.next_refresh = now + timedelta(seconds=seconds(spec.refresh_interval))
        except (OpenBaoUnavailable, OpenBaoRefused) as exc:
            reason = (
                "OpenBaoUnavailable" if isinstance(exc, OpenBaoUnavailable) else "OpenBaoRefused"
            )
            metrics.OPENBAO_FAILURES.labels(reason).inc()
            status.failures = (status.failures or 0) + 1
            status.next_attempt = now + timedelta(seconds=backoff(status.failures))
            error = (reason, str(exc)[:500])
            log.warning("sync failed", extra={"secret": f"{namespace}/{name}", "error": str(exc)})
    status.observed_generation = generation
    status.source = kind
    status.secret_name = secret_name
    if error is None and todo.action == Action.ROTATE:
        status.rotation_request = (body["metadata"].get("annotations") or {}).get(
            ROTATE_ANNOTATION, status.rotation_request
        )
    for key, value in _status_patch(status).items():
        patch.status[key] = value
    new_conditions = _conditions(body, status, error=error)
    patch.status["conditions"] = new_conditions
    _events(body, new_conditions)


async def _write(
    body: kopf.Body,
    applier: Applier,
    spec: SecretSpec,
    status: SecretStatus,
    fetched: sources.Fetched,
    secret_name: str,
    todo: Plan,
    existing: dict[str, Any] | None,
) -> None:
    namespace = body["metadata"]["namespace"]
    digest = checksum(fetched.data)
    previous_digest = status.checksum
    current_digest = ((existing or {}).get("metadata", {}).get("annotations") or {}).get(
        CHECKSUM_ANNOTATION
    )
    if existing is None or current_digest != digest:
        await applier.apply(_core_secret(body, secret_name, fetched, digest))
    if digest != previous_digest:
        status.version = (status.version or 0) + 1
        status.last_rotated = _now()
        metrics.SECRET_ROTATIONS.labels(spec.source_kind()).inc()
        restarted: list[str] = []
        if previous_digest and spec.rollout_restart:  # a rotation, not the first sync
            restarted = await restart.restart_consumers(applier.api, namespace, secret_name, digest)
            metrics.SECRET_RESTARTS.inc(len(restarted))
        status.restarted = restarted
        kopf.info(
            body,
            reason="Rotated" if previous_digest else "Synced",
            message=f"version {status.version} ({todo.reason})"
            + (f"; restarted {', '.join(restarted)}" if restarted else ""),
        )
    if spec.database is not None and status.lease_id and status.lease_id != fetched.lease_id:
        grace = timedelta(seconds=seconds(spec.database.revoke_after))
        status.pending_revocations.append(
            PendingRevocation(lease_id=status.lease_id, revoke_after=_now() + grace)
        )
    status.checksum = digest
    status.source_version = fetched.source_version
    status.lease_id = fetched.lease_id
    status.lease_duration = fetched.lease_duration
    status.lease_expiry = fetched.lease_expiry
    status.not_after = fetched.not_after
    if "rotated_at" in fetched.extra:
        status.last_rotated = fetched.extra["rotated_at"]


def _locks(memo: kopf.Memo) -> dict[str, asyncio.Lock]:
    locks: dict[str, asyncio.Lock] = memo.setdefault("secret_locks", {})
    return locks


async def _run(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, *, force: bool) -> None:
    lock = _locks(memo).setdefault(body["metadata"]["uid"], asyncio.Lock())
    async with lock:
        await sync(
            body=body, patch=patch, applier=memo["applier"], bao=memo.get("openbao"), force=force
        )


@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL, field="spec")
@kopf.on.resume(GROUP, VERSION, PLURAL)
async def on_change(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    await _run(body, patch, memo, force=True)


@kopf.timer(GROUP, VERSION, PLURAL, interval=TICK_SECONDS, initial_delay=TICK_SECONDS)
async def tick(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    """Renewals, rotations, refreshes and retries, each when it is due."""
    await _run(body, patch, memo, force=False)


@kopf.on.delete(GROUP, VERSION, PLURAL)
async def on_delete(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Revoke leases always; remove OpenBao data only with deletionPolicy Delete."""
    bao: OpenBao | None = memo.get("openbao")
    try:
        spec = SecretSpec.model_validate(dict(body.get("spec", {})))
    except ValidationError:
        return
    status = parse_status(dict(body.get("status", {})))
    if bao is None:
        raise kopf.TemporaryError("no OpenBao configured; leases cannot be revoked yet", delay=30)
    try:
        leases = [p.lease_id for p in status.pending_revocations]
        if status.lease_id:
            leases.append(status.lease_id)
        await _revoke(bao, leases)
        if leases:
            kopf.info(body, reason="Revoked", message=f"revoked {len(leases)} lease(s)")
        if spec.deletion_policy != DeletionPolicy.DELETE:
            return
        if spec.kv is not None:
            await sources.delete_kv(bao, spec.kv)
        elif spec.transit is not None:
            await sources.delete_transit_key(bao, spec.transit)
        elif spec.pki is not None and status.source_version:
            await sources.revoke_certificate(bao, spec.pki.mount, status.source_version)
    except OpenBaoUnavailable as exc:
        raise kopf.TemporaryError(f"cannot revoke yet: {exc}", delay=15) from exc
    except OpenBaoRefused as exc:
        kopf.warn(body, reason="CleanupRefused", message=str(exc)[:500])
