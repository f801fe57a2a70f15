"""Kopf handlers for `Service`: external resources, children, status.

Every trigger (create, update, resume after an operator restart, and a periodic timer for
drift correction) runs the same level-triggered `reconcile`, so the outcome depends only on
the spec and the cluster, never on which event arrived. Deletion runs behind a finalizer and
follows `deletionPolicy` for what Kubernetes cannot garbage-collect itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import kopf
from pydantic import ValidationError

from kommerce.api.crd import GROUP, VERSION
from kommerce.api.v1alpha1.common import DeletionPolicy
from kommerce.api.v1alpha1.service import ServiceSpec
from kommerce.openbao.bootstrap import DATABASE_CONNECTION, DATABASE_MOUNT
from kommerce.openbao.client import OpenBao, OpenBaoRefused, OpenBaoUnavailable
from operators import conditions, metrics
from operators.apply import Applier
from operators.service import children, externals, monitoring, status

PLURAL = "services"
KIND = "Service"
RESYNC_SECONDS = 10.0
MONITORING_SKIPPED = (
    "monitoring.coreos.com CRDs are not installed: ServiceMonitor and PrometheusRule skipped"
)
DB_CREDENTIALS_TTL = "1h"
DB_CREDENTIALS_MAX_TTL = "24h"
log = logging.getLogger("kommerce.operator.service")


@dataclass
class Backing:
    """Connections to the servers external resources live on (None: not configured)."""

    postgres: externals.Postgres | None
    kafka: externals.Kafka | None
    openbao: OpenBao | None = None


@dataclass
class ExternalState:
    secret_names: list[str] = field(default_factory=list)
    database: str | None = None
    credentials_secret: str | None = None
    topics: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def credentials_secret_name(name: str) -> str:
    return f"{name}-db"


def transit_secret_name(name: str) -> str:
    return f"{name}-transit"


def secret_resource(owner: children.Owner, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A kommerce.io `Secret` owned by the Service (the Secret operator fills the core one)."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Secret",
        "metadata": owner.metadata(name),
        "spec": spec,
    }


async def _ensure_database(
    owner: children.Owner, spec: ServiceSpec, applier: Applier, backing: Backing
) -> str:
    """Database, owner role, OpenBao role and the `Secret` resource with dynamic logins."""
    assert spec.dependencies.database is not None
    if backing.postgres is None:
        raise externals.BackingServerError(
            "the operator has no database (set KOMMERCE_DATABASE_URL)"
        )
    if backing.openbao is None:
        raise externals.BackingServerError("the operator has no OpenBao (set KOMMERCE_VAULT_ADDR)")
    postgres, bao = backing.postgres, backing.openbao
    db_name = externals.database_name(namespace=owner.namespace, name=owner.name, spec=spec)
    await postgres.ensure(database=db_name, extensions=spec.dependencies.database.extensions)
    role = externals.openbao_role(namespace=owner.namespace, name=owner.name)
    try:
        await bao.call(
            lambda c: c.secrets.database.create_role(
                role,
                DATABASE_CONNECTION,
                externals.creation_statements(db_name),
                default_ttl=DB_CREDENTIALS_TTL,
                max_ttl=DB_CREDENTIALS_MAX_TTL,
                revocation_statements=externals.REVOCATION_STATEMENTS,
                mount_point=DATABASE_MOUNT,
            ),
            what=f"write database role {role}",
        )
    except (OpenBaoUnavailable, OpenBaoRefused) as exc:
        raise externals.BackingServerError(str(exc)) from exc
    name = credentials_secret_name(owner.name)
    await applier.apply(
        secret_resource(
            owner,
            name,
            {
                "database": {
                    "role": role,
                    "mount": DATABASE_MOUNT,
                    "connection": {
                        "host": postgres.host,
                        "port": postgres.port,
                        "database": db_name,
                    },
                },
                "deletionPolicy": spec.deletion_policy.value,
            },
        )
    )
    return db_name


async def ensure_externals(
    *, owner: children.Owner, spec: ServiceSpec, applier: Applier, backing: Backing
) -> ExternalState:
    state = ExternalState()
    if spec.dependencies.database is not None:
        try:
            state.database = await _ensure_database(owner, spec, applier, backing)
            state.credentials_secret = credentials_secret_name(owner.name)
            state.secret_names.append(state.credentials_secret)
        except externals.BackingServerError as exc:
            state.errors.append(str(exc))
    if spec.dependencies.transit:
        name = transit_secret_name(owner.name)
        key = f"{owner.namespace}-{owner.name}"
        await applier.apply(
            secret_resource(
                owner,
                name,
                {"transit": {"key": key}, "deletionPolicy": spec.deletion_policy.value},
            )
        )
        state.secret_names.append(name)
    if spec.dependencies.topics:
        if backing.kafka is None:
            state.errors.append("the operator has no Kafka (set KOMMERCE_KAFKA_BOOTSTRAP)")
        else:
            try:
                state.topics = await backing.kafka.ensure(spec.dependencies.topics)
            except externals.BackingServerError as exc:
                state.errors.append(str(exc))
    return state


async def reconcile(
    *, body: kopf.Body, applier: Applier, backing: Backing, patch: kopf.Patch
) -> None:
    name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
    generation = body["metadata"].get("generation")
    with metrics.reconcile_timer(KIND):
        try:
            spec = ServiceSpec.model_validate(dict(body.get("spec", {})))
        except ValidationError as exc:  # admission should have caught it; never retry
            metrics.ERRORS.labels(KIND, "InvalidSpec").inc()
            patch.status["conditions"] = conditions.merge(
                list(body.get("status", {}).get("conditions", [])),
                [conditions.Observed("Ready", False, "InvalidSpec", str(exc)[:1000])],
                generation=generation,
            )
            raise kopf.PermanentError(f"invalid spec: {exc}") from exc
        owner = children.Owner(name=name, namespace=namespace, body=dict(body))
        ext = await ensure_externals(owner=owner, spec=spec, applier=applier, backing=backing)
        for error in ext.errors:
            metrics.ERRORS.labels(KIND, "DependencyUnavailable").inc()
            log.warning("external dependency unavailable", extra={"service": name, "error": error})
        desired = children.children(owner, spec, secret_names=ext.secret_names)
        notes: list[str] = []
        if await applier.has_kind_async(monitoring.MONITORING_GROUP, "ServiceMonitor"):
            desired.append(monitoring.service_monitor(owner, spec))
            rule = monitoring.prometheus_rule(owner, spec)
            if rule:
                desired.append(rule)
        else:
            notes.append(MONITORING_SKIPPED)
        apply_error = None
        deployment: dict[str, Any] | None = None
        try:
            for manifest in desired:
                applied = await applier.apply(manifest)
                if manifest["kind"] == "Deployment":
                    deployment = applied  # the apply response carries the current status
            present = {(m["apiVersion"], m["kind"]) for m in desired}
            for api_version, kind in children.OPTIONAL_KINDS - present:
                await applier.delete(api_version, kind, name, namespace)
        except Exception as exc:
            apply_error = f"{type(exc).__name__}: {exc}"[:500]
            metrics.ERRORS.labels(KIND, "ApplyFailed").inc()
        if deployment is None:  # the apply failed before (or at) the Deployment
            deployment = await applier.get("apps/v1", "Deployment", name, namespace)
        observation = status.Observation(
            applied=apply_error is None,
            apply_error=apply_error,
            deployment_status=(deployment or {}).get("status"),
            desired_replicas=children.desired_replicas(spec),
            external_errors=ext.errors,
        )
        previous = dict(body.get("status", {}))
        new_conditions = conditions.merge(
            list(previous.get("conditions", [])),
            status.conditions(observation),
            generation=generation,
        )
        patch.status["observedGeneration"] = generation
        patch.status["conditions"] = new_conditions
        patch.status["readyReplicas"] = int(
            (observation.deployment_status or {}).get("readyReplicas") or 0
        )
        patch.status["endpoint"] = children.endpoint(owner, spec)
        patch.status["database"] = ext.database
        patch.status["credentialsSecret"] = ext.credentials_secret
        patch.status["topics"] = ext.topics
        patch.status["notes"] = notes
        _post_transitions(body, previous, new_conditions)
        if apply_error or ext.errors:
            metrics.RETRIES.labels(KIND).inc()
            raise kopf.TemporaryError("; ".join(filter(None, [apply_error, *ext.errors])), delay=5)


def _post_transitions(
    body: kopf.Body, previous: dict[str, Any], new_conditions: list[dict[str, Any]]
) -> None:
    before = {c.get("type"): c.get("status") for c in previous.get("conditions", [])}
    for cond in new_conditions:
        if before.get(cond["type"]) == cond["status"]:
            continue
        if cond["type"] == "Ready" and cond["status"] == "True":
            kopf.info(body, reason="Ready", message=cond["message"])
        elif cond["type"] == "Degraded" and cond["status"] == "True":
            kopf.warn(body, reason=cond["reason"], message=cond["message"])
        elif cond["type"] == "Degraded" and before.get("Degraded") == "True":
            kopf.info(body, reason="Recovered", message="dependencies are reachable again")


def _memo(memo: kopf.Memo) -> tuple[Applier, Backing]:
    applier: Applier = memo["applier"]
    backing: Backing = memo["backing"]
    return applier, backing


@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL, field="spec")
@kopf.on.resume(GROUP, VERSION, PLURAL)
async def on_change(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    kopf.info(
        body,
        reason="Reconciling",
        message=f"applying generation {body['metadata'].get('generation')}",
    )
    applier, backing = _memo(memo)
    await reconcile(body=body, applier=applier, backing=backing, patch=patch)


@kopf.timer(GROUP, VERSION, PLURAL, interval=RESYNC_SECONDS, initial_delay=2.0)
async def resync(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    """Drift correction and status refresh; also how a recovered dependency is noticed."""
    applier, backing = _memo(memo)
    await reconcile(body=body, applier=applier, backing=backing, patch=patch)


@kopf.on.delete(GROUP, VERSION, PLURAL)
async def on_delete(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Children go by garbage collection; the database and topics follow deletionPolicy."""
    backing = _memo(memo)[1]
    try:
        spec = ServiceSpec.model_validate(dict(body.get("spec", {})))
    except ValidationError:
        return
    name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
    if spec.deletion_policy != DeletionPolicy.DELETE:
        kopf.info(
            body, reason="Retained", message="deletionPolicy Retain: database and topics are kept"
        )
        return
    try:
        if spec.dependencies.database is not None and backing.postgres is not None:
            db_name = externals.database_name(namespace=namespace, name=name, spec=spec)
            if backing.openbao is not None:
                role = externals.openbao_role(namespace=namespace, name=name)
                await backing.openbao.call(
                    lambda c: c.secrets.database.delete_role(role, mount_point=DATABASE_MOUNT),
                    what=f"delete database role {role}",
                )
            await backing.postgres.drop(db_name)
            kopf.info(body, reason="DatabaseDropped", message=f"dropped database {db_name}")
        if spec.dependencies.topics and backing.kafka is not None:
            await backing.kafka.delete([t.name for t in spec.dependencies.topics])
            kopf.info(
                body,
                reason="TopicsDeleted",
                message=", ".join(t.name for t in spec.dependencies.topics),
            )
    except (externals.BackingServerError, OpenBaoUnavailable, OpenBaoRefused) as exc:
        raise kopf.TemporaryError(f"cannot clean up yet: {exc}", delay=10) from exc
