"""`Service` resources in, children and status out, against the real API server."""

from __future__ import annotations

import signal
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client

from tests.helpers import eventually
from tests.operator.conftest import operator_process

pytestmark = pytest.mark.operator

GROUP, VERSION, PLURAL = "kommerce.io", "v1alpha1", "services"


def _service(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"image": "ghcr.io/kommerce/order", "version": "1.2.0", **spec},
    }


def _get(kube: client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    got: dict[str, Any] = client.CustomObjectsApi(kube).get_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, name
    )
    return got


def _ready(
    kube: client.ApiClient, namespace: str, name: str, generation: int | None = None
) -> bool:
    body = _get(kube, namespace, name)
    status = body.get("status", {})
    if generation is not None and status.get("observedGeneration") != generation:
        return False
    return any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", []))


def _create(kube: client.ApiClient, namespace: str, body: dict[str, Any]) -> None:
    client.CustomObjectsApi(kube).create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, body
    )


def test_create_gives_children_and_ready_status(
    operator: subprocess.Popen[bytes], kube: client.ApiClient, namespace: str
) -> None:
    _create(
        kube,
        namespace,
        _service("order", replicas=3, callers=["checkout"], config={"app.yaml": "x: 1"}),
    )
    eventually(lambda: _ready(kube, namespace, "order"), what="Service Ready")
    body = _get(kube, namespace, "order")
    status = body["status"]
    assert status["readyReplicas"] == 3
    assert status["endpoint"] == f"http://order.{namespace}.svc.cluster.local:8080"
    assert status["observedGeneration"] == body["metadata"]["generation"]
    assert {c["type"] for c in status["conditions"]} == {
        "Ready",
        "Progressing",
        "Degraded",
        "Synced",
    }
    apps, core = client.AppsV1Api(kube), client.CoreV1Api(kube)
    uid = body["metadata"]["uid"]
    for child in (
        apps.read_namespaced_deployment("order", namespace),
        core.read_namespaced_service("order", namespace),
        core.read_namespaced_config_map("order", namespace),
        core.read_namespaced_service_account("order", namespace),
        client.PolicyV1Api(kube).read_namespaced_pod_disruption_budget("order", namespace),
        client.NetworkingV1Api(kube).read_namespaced_network_policy("order", namespace),
    ):
        refs = child.metadata.owner_references or []  # type: ignore[union-attr]
        assert [r.uid for r in refs] == [uid]
    events = core.list_namespaced_event(namespace, field_selector="involvedObject.name=order").items
    assert {"Reconciling", "Ready"} <= {e.reason for e in events}


def test_changes_are_applied(
    operator: subprocess.Popen[bytes], kube: client.ApiClient, namespace: str
) -> None:
    _create(kube, namespace, _service("order", replicas=2))
    eventually(lambda: _ready(kube, namespace, "order"), what="Service Ready")
    custom = client.CustomObjectsApi(kube)
    patched = custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        "order",
        {"spec": {"replicas": 4, "version": "1.3.0", "autoscaling": None}},
    )
    generation = patched["metadata"]["generation"]  # type: ignore[index]
    eventually(lambda: _ready(kube, namespace, "order", generation), what="new generation Ready")
    deployment = client.AppsV1Api(kube).read_namespaced_deployment("order", namespace)
    assert deployment.spec.replicas == 4  # type: ignore[union-attr]
    image = deployment.spec.template.spec.containers[0].image  # type: ignore[union-attr]
    assert image == "ghcr.io/kommerce/order:1.3.0"
    # Switching to autoscaling creates the HPA and hands replicas over to it.
    custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        "order",
        {"spec": {"replicas": None, "autoscaling": {"minReplicas": 2, "maxReplicas": 5}}},
    )
    hpa = client.AutoscalingV2Api(kube)
    eventually(
        lambda: hpa.read_namespaced_horizontal_pod_autoscaler("order", namespace),
        what="the HorizontalPodAutoscaler",
    )


def test_deleted_or_edited_child_is_restored(
    operator: subprocess.Popen[bytes], kube: client.ApiClient, namespace: str
) -> None:
    _create(kube, namespace, _service("order", replicas=2))
    eventually(lambda: _ready(kube, namespace, "order"), what="Service Ready")
    core = client.CoreV1Api(kube)
    core.delete_namespaced_config_map("order", namespace)
    core.patch_namespaced_service(
        "order", namespace, {"spec": {"selector": {"kommerce.io/service": "hijacked"}}}
    )
    eventually(
        lambda: core.read_namespaced_config_map("order", namespace),
        timeout=45,
        what="the ConfigMap to be recreated",
    )

    def selector_restored() -> bool:
        svc = core.read_namespaced_service("order", namespace)
        return svc.spec.selector == {"kommerce.io/service": "order"}  # type: ignore[union-attr]

    eventually(selector_restored, timeout=45, what="the Service selector to be restored")


def test_delete_collects_children(
    operator: subprocess.Popen[bytes], kube: client.ApiClient, namespace: str
) -> None:
    _create(kube, namespace, _service("order"))
    eventually(lambda: _ready(kube, namespace, "order"), what="Service Ready")
    client.CustomObjectsApi(kube).delete_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, "order"
    )
    apps = client.AppsV1Api(kube)

    def gone() -> bool:
        return not apps.list_namespaced_deployment(namespace).items

    eventually(gone, what="the Deployment to be garbage-collected")


def test_metrics_count_reconciles(
    operator: subprocess.Popen[bytes], metrics_port: int, kube: client.ApiClient, namespace: str
) -> None:
    _create(kube, namespace, _service("order"))
    eventually(lambda: _ready(kube, namespace, "order"), what="Service Ready")
    text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
    assert 'kommerce_operator_reconciles_total{kind="Service",result="success"}' in text
    assert "kommerce_operator_reconcile_duration_seconds_bucket" in text


def test_restart_mid_reconcile_converges_without_duplicates(
    kubeconfig: Path, kube: client.ApiClient, tmp_path: Path, openbao: dict[str, str]
) -> None:
    """The only operator for a namespace is SIGKILLed mid-reconcile, restarted, and converges."""
    namespace = f"solo-{uuid.uuid4().hex[:8]}"
    core, apps = client.CoreV1Api(kube), client.AppsV1Api(kube)
    core.create_namespace(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    )  # type: ignore[arg-type]
    args = ("--no-peering", "--metrics-port", "0", "--no-install-crds", f"--namespace={namespace}")
    try:
        with operator_process(kubeconfig, tmp_path / "first.log", *args) as first:
            _create(
                kube,
                namespace,
                _service("order", replicas=2, config={"a": "1"}, dependencies={"database": {}}),
            )
            # Kill as soon as the reconcile has visibly started (its first child exists).
            eventually(
                lambda: core.read_namespaced_service_account("order", namespace),
                timeout=60,
                what="the first child",
            )
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        with operator_process(kubeconfig, tmp_path / "second.log", *args):
            eventually(lambda: _ready(kube, namespace, "order"), what="Ready after the restart")
            assert [d.metadata.name for d in apps.list_namespaced_deployment(namespace).items] == [  # type: ignore[union-attr]
                "order"
            ]
            secrets = [s.metadata.name for s in core.list_namespaced_secret(namespace).items]  # type: ignore[union-attr]
            assert secrets.count("order-db") == 1
            client.CustomObjectsApi(kube).delete_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, "order"
            )
            eventually(
                lambda: (
                    not client.CustomObjectsApi(kube).list_namespaced_custom_object(
                        GROUP, VERSION, namespace, PLURAL
                    )["items"]
                ),
                what="deletion with the operator up",
            )
    finally:
        core.delete_namespace(namespace)


def test_two_peered_operators_one_active(kubeconfig: Path, tmp_path: Path) -> None:
    low, high = tmp_path / "low.log", tmp_path / "high.log"
    with (
        operator_process(
            kubeconfig, low, "--priority", "10", "--metrics-port", "0", "--no-install-crds"
        ),
        operator_process(
            kubeconfig, high, "--priority", "20", "--metrics-port", "0", "--no-install-crds"
        ),
    ):
        eventually(
            lambda: "Pausing operations in favour of" in low.read_text(),
            timeout=60,
            what="the lower-priority operator to pause",
        )
        assert "Pausing operations" not in high.read_text()
