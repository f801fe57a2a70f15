"""`kubectl apply -k manifests/overlays/local` brings every platform service to Ready."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from kubernetes import client

from kommerce.tools.catalog import tool_path
from tests.helpers import REPO, eventually

pytestmark = pytest.mark.operator

EXPECTED = {
    "user",
    "product",
    "order",
    "payment",
    "inventory",
    "notification",
    "search",
    "review",
    "analytics",
    "training",
    "recommendation",
    "fraud",
    "sentiment",
    "forecasting",
    "feature-store",
    "platform-api",
    "deployment",
    "monitoring",
    "logging",
    "secret",
    "policy",
}


def test_local_overlay_reaches_ready(
    operator: subprocess.Popen[bytes], kubeconfig: Path, kube: client.ApiClient
) -> None:
    kubectl = [str(tool_path("kubectl")), "--kubeconfig", str(kubeconfig)]
    core = client.CoreV1Api(kube)

    def namespace_free() -> bool:
        try:
            ns = core.read_namespace("kommerce")
        except client.ApiException as exc:
            return exc.status == 404
        return ns.status is None or ns.status.phase != "Terminating"

    eventually(namespace_free, timeout=180, what="a previous kommerce namespace to finish deleting")
    applied = subprocess.run(
        [*kubectl, "apply", "-k", str(REPO / "manifests/overlays/local")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert applied.returncode == 0, applied.stderr
    custom = client.CustomObjectsApi(kube)

    def ready_names() -> set[str]:
        items = custom.list_namespaced_custom_object(
            "kommerce.io", "v1alpha1", "kommerce", "services"
        )["items"]
        return {
            i["metadata"]["name"]
            for i in items
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in i.get("status", {}).get("conditions", [])
            )
        }

    try:
        eventually(
            lambda: ready_names() == EXPECTED,
            timeout=240,
            what="all 21 platform services to be Ready",
        )
        deployments = client.AppsV1Api(kube).list_namespaced_deployment("kommerce").items
        assert {d.metadata.name for d in deployments} == EXPECTED  # type: ignore[union-attr]
    finally:
        # While the operator still runs, so the Services' finalizers are released.
        subprocess.run(
            [*kubectl, "delete", "namespace", "kommerce", "--timeout=180s"],
            capture_output=True,
            timeout=200,
            check=False,
        )
        # The library's Policy resources are cluster-scoped: they outlive the namespace.
        subprocess.run(
            [
                *kubectl,
                "delete",
                "policies.kommerce.io",
                "-l",
                "app.kubernetes.io/part-of=kommerce",
            ],
            capture_output=True,
            timeout=120,
            check=False,
        )
