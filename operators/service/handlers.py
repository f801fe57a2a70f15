"""Kopf handlers for `Service`: apply children, observe them, write status.

Every trigger (create, update, resume after an operator restart, and a periodic timer for
drift correction) runs the same level-triggered `reconcile`, so the outcome depends only on
the spec and the cluster, never on which event arrived.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf
from pydantic import ValidationError

from kommerce.api.crd import GROUP, VERSION
from kommerce.api.v1alpha1.service import ServiceSpec
from operators import conditions, metrics
from operators.apply import Applier
from operators.service import children, status

PLURAL = "services"
KIND = "Service"
RESYNC_SECONDS = 10.0
log = logging.getLogger("kommerce.operator.service")


def _desired_replicas(spec: ServiceSpec) -> int:
    if spec.autoscaling is not None:
        return spec.autoscaling.min_replicas
    return 1 if spec.replicas is None else spec.replicas


async def reconcile(
    *, body: kopf.Body, applier: Applier, patch: kopf.Patch, event: bool = True
) -> None:
    name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
    with metrics.reconcile_timer(KIND):
        try:
            spec = ServiceSpec.model_validate(dict(body.get("spec", {})))
        except ValidationError as exc:  # admission should have caught it; never retry
            metrics.ERRORS.labels(KIND, "InvalidSpec").inc()
            patch.status["conditions"] = conditions.merge(
                list(body.get("status", {}).get("conditions", [])),
                [conditions.Observed("Ready", False, "InvalidSpec", str(exc)[:1000])],
                generation=body["metadata"].get("generation"),
            )
            raise kopf.PermanentError(f"invalid spec: {exc}") from exc
        owner = children.Owner(name=name, namespace=namespace, body=dict(body))
        desired = children.children(owner, spec, secret_names=[])
        apply_error = None
        try:
            for manifest in desired:
                await applier.apply(manifest)
            present = {(m["apiVersion"], m["kind"]) for m in desired}
            for api_version, kind in children.OPTIONAL_KINDS - present:
                await applier.delete(api_version, kind, name, namespace)
        except Exception as exc:
            apply_error = f"{type(exc).__name__}: {exc}"[:500]
            metrics.ERRORS.labels(KIND, "ApplyFailed").inc()
        deployment = await applier.get("apps/v1", "Deployment", name, namespace)
        observation = status.Observation(
            applied=apply_error is None,
            apply_error=apply_error,
            deployment_status=(deployment or {}).get("status"),
            desired_replicas=_desired_replicas(spec),
        )
        previous = dict(body.get("status", {}))
        new_conditions = conditions.merge(
            list(previous.get("conditions", [])),
            status.conditions(observation),
            generation=body["metadata"].get("generation"),
        )
        patch.status["observedGeneration"] = body["metadata"].get("generation")
        patch.status["conditions"] = new_conditions
        patch.status["readyReplicas"] = int(
            (observation.deployment_status or {}).get("readyReplicas") or 0
        )
        patch.status["endpoint"] = children.endpoint(owner, spec)
        if event:
            was_ready = any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in previous.get("conditions", [])
            )
            ready = new_conditions[0]
            if ready["status"] == "True" and not was_ready:
                kopf.info(body, reason="Ready", message=ready["message"])
        if apply_error:
            metrics.RETRIES.labels(KIND).inc()
            raise kopf.TemporaryError(f"apply failed: {apply_error}", delay=5)


def _applier(memo: kopf.Memo) -> Applier:
    applier: Applier = memo["applier"]
    return applier


@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL, field="spec")
@kopf.on.resume(GROUP, VERSION, PLURAL)
async def on_change(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    kopf.info(
        body,
        reason="Reconciling",
        message=f"applying children for generation {body['metadata'].get('generation')}",
    )
    await reconcile(body=body, applier=_applier(memo), patch=patch)


@kopf.timer(GROUP, VERSION, PLURAL, interval=RESYNC_SECONDS, initial_delay=2.0)
async def resync(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    """Drift correction and status refresh: children edited or deleted by hand come back."""
    await reconcile(body=body, applier=_applier(memo), patch=patch)
