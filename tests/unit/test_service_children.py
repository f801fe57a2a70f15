from __future__ import annotations

from typing import Any

import pytest

from kommerce.api.v1alpha1.service import ServiceSpec
from operators.service import children, status

pytestmark = pytest.mark.unit

OWNER_BODY = {
    "apiVersion": "kommerce.io/v1alpha1",
    "kind": "Service",
    "metadata": {"name": "order", "namespace": "shop", "uid": "u-1"},
}


def _children(**spec: Any) -> dict[str, dict[str, Any]]:
    parsed = ServiceSpec.model_validate(
        {"image": "ghcr.io/kommerce/order", "version": "1.2.0", **spec}
    )
    owner = children.Owner(name="order", namespace="shop", body=OWNER_BODY)
    return {m["kind"]: m for m in children.children(owner, parsed, secret_names=["order-db"])}


def test_minimal_service_children() -> None:
    kids = _children()
    assert set(kids) == {"ServiceAccount", "ConfigMap", "Deployment", "Service", "NetworkPolicy"}
    for manifest in kids.values():
        ref = manifest["metadata"]["ownerReferences"][0]
        assert ref["uid"] == "u-1"
        assert ref["controller"] is True
        assert manifest["metadata"]["labels"]["kommerce.io/service"] == "order"
    pod = kids["Deployment"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "ghcr.io/kommerce/order:1.2.0"
    assert pod["containers"][0]["envFrom"] == [{"secretRef": {"name": "order-db"}}]
    assert kids["Deployment"]["spec"]["replicas"] == 1
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_autoscaling_leaves_replicas_to_the_hpa() -> None:
    kids = _children(autoscaling={"minReplicas": 2, "maxReplicas": 6})
    assert "replicas" not in kids["Deployment"]["spec"]
    assert kids["HorizontalPodAutoscaler"]["spec"]["maxReplicas"] == 6
    assert "PodDisruptionBudget" in kids


def test_single_replica_gets_no_disruption_budget() -> None:
    assert "PodDisruptionBudget" not in _children(replicas=1)
    assert "PodDisruptionBudget" in _children(replicas=3)


def test_network_policy_denies_all_but_callers() -> None:
    closed = _children()["NetworkPolicy"]["spec"]
    assert closed["ingress"] == []
    assert closed["policyTypes"] == ["Ingress"]
    open_to = _children(callers=["checkout", "api"])["NetworkPolicy"]["spec"]["ingress"][0]
    expression = open_to["from"][0]["podSelector"]["matchExpressions"][0]
    assert expression["values"] == ["api", "checkout"]
    assert open_to["ports"] == [{"port": 8080, "protocol": "TCP"}]


def test_ingress_only_when_exposed() -> None:
    assert "Ingress" not in _children()
    kids = _children(exposure={"type": "Ingress", "host": "shop.test", "path": "/orders"})
    rule = kids["Ingress"]["spec"]["rules"][0]
    assert rule["host"] == "shop.test"
    assert rule["http"]["paths"][0]["path"] == "/orders"


def test_config_change_rolls_the_pods() -> None:
    a = _children(config={"a": "1"})["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    b = _children(config={"a": "2"})["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert a["kommerce.io/config-hash"] != b["kommerce.io/config-hash"]


def test_image_with_tag_or_digest_is_kept() -> None:
    assert (
        _children(image="reg:5000/order:v9")["Deployment"]["spec"]["template"]["spec"][
            "containers"
        ][0]["image"]
        == "reg:5000/order:v9"
    )


def _ready(**kw: Any) -> dict[str, str]:
    obs = status.Observation(
        **{
            "applied": True,
            "apply_error": None,
            "desired_replicas": 3,
            "deployment_status": None,
            **kw,
        }
    )
    return {c.type: f"{c.status}/{c.reason}" for c in status.conditions(obs)}


def test_status_progressing_until_available() -> None:
    assert _ready()["Ready"] == "False/RollingOut"
    rolling = {
        "readyReplicas": 1,
        "updatedReplicas": 3,
        "conditions": [{"type": "Available", "status": "True"}],
    }
    assert _ready(deployment_status=rolling)["Progressing"] == "True/RollingOut"
    done = {**rolling, "readyReplicas": 3}
    conds = _ready(deployment_status=done)
    assert conds["Ready"] == "True/Available"
    assert conds["Synced"] == "True/ReconcileSucceeded"
    assert conds["Degraded"] == "False/AsExpected"


def test_status_degraded_when_a_dependency_is_down() -> None:
    conds = _ready(external_errors=["postgres unreachable"])
    assert conds["Ready"] == "False/DependencyUnavailable"
    assert conds["Degraded"] == "True/DependencyUnavailable"
    assert conds["Synced"] == "False/ReconcileFailed"


def test_condition_transition_time_moves_only_on_change() -> None:
    from datetime import UTC, datetime

    from operators.conditions import Observed, merge

    t1, t2 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    first = merge([], [Observed("Ready", False, "RollingOut")], generation=1, now=t1)
    same = merge(first, [Observed("Ready", False, "StillRolling")], generation=2, now=t2)
    flipped = merge(same, [Observed("Ready", True, "Available")], generation=2, now=t2)
    assert same[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert same[0]["reason"] == "StillRolling"
    assert flipped[0]["lastTransitionTime"] == "2026-01-02T00:00:00Z"
