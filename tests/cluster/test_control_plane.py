"""The local control plane does what later issues rely on: real controllers, kwok nodes."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from kommerce.tools.catalog import tool_path
from tests.helpers import eventually, kommerce

pytestmark = pytest.mark.cluster


def gone(read: Callable[[], Any]) -> bool:
    try:
        read()
    except client.ApiException as exc:
        return exc.status == 404
    return False


def test_three_nodes_ready(kube: client.ApiClient) -> None:
    nodes = client.CoreV1Api(kube).list_node(label_selector="type=kwok").items
    assert len(nodes) == 3
    for node in nodes:
        assert node.status is not None
        ready = [c for c in node.status.conditions or [] if c.type == "Ready"]
        assert ready, node.metadata
        assert ready[0].status == "True", node.metadata


def test_deployment_reaches_three_available_replicas(
    kube: client.ApiClient, namespace: str
) -> None:
    apps = client.AppsV1Api(kube)
    labels = {"app": "web"}
    apps.create_namespaced_deployment(
        namespace,
        {  # type: ignore[arg-type]
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
                },
            },
        },
    )

    def available() -> bool:
        status = apps.read_namespaced_deployment("web", namespace).status
        return status is not None and status.available_replicas == 3

    eventually(available, what="3 available replicas")
    pods = client.CoreV1Api(kube).list_namespaced_pod(namespace, label_selector="app=web").items
    assert len(pods) == 3
    assert {p.spec.node_name for p in pods} <= {f"kwok-node-{i}" for i in range(3)}  # type: ignore[union-attr]
    assert all(p.status.phase == "Running" for p in pods)  # type: ignore[union-attr]


def test_deleting_owner_cascades_to_dependants(kube: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube)
    owner = core.create_namespaced_config_map(
        namespace,
        {  # type: ignore[arg-type]
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "owner"},
            "data": {},
        },
    )
    core.create_namespaced_config_map(
        namespace,
        {  # type: ignore[arg-type]
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "dependant",
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "name": "owner",
                        "uid": owner.metadata.uid,  # type: ignore[union-attr]
                    }
                ],
            },
            "data": {},
        },
    )
    core.delete_namespaced_config_map("owner", namespace, propagation_policy="Background")
    eventually(
        lambda: gone(lambda: core.read_namespaced_config_map("dependant", namespace)),
        what="the garbage collector to delete the dependant",
    )


def test_namespace_deletion_completes(kube: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube)
    core.create_namespaced_config_map(
        namespace,
        {  # type: ignore[arg-type]
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "c"},
            "data": {"k": "v"},
        },
    )
    core.create_namespaced_service_account(
        namespace,
        {  # type: ignore[arg-type]
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "sa"},
        },
    )
    core.delete_namespace(namespace)
    eventually(
        lambda: gone(lambda: core.read_namespace(namespace)),
        timeout=90,
        what=f"namespace {namespace} to be deleted",
    )


def test_crd_installed_and_served(kube: client.ApiClient, namespace: str) -> None:
    ext = client.ApiextensionsV1Api(kube)
    plural, group = "widgets", "test.kommerce.io"
    name = f"{plural}.{group}"
    ext.create_custom_resource_definition(
        {  # type: ignore[arg-type]
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": name},
            "spec": {
                "group": group,
                "scope": "Namespaced",
                "names": {"plural": plural, "singular": "widget", "kind": "Widget"},
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "properties": {
                                    "spec": {
                                        "type": "object",
                                        "required": ["size"],
                                        "properties": {"size": {"type": "integer", "minimum": 1}},
                                    }
                                },
                            }
                        },
                    }
                ],
            },
        }
    )
    try:

        def established() -> bool:
            crd = ext.read_custom_resource_definition(name)
            conditions = crd.status.conditions if crd.status else None
            return any(c.type == "Established" and c.status == "True" for c in conditions or [])

        eventually(established, what="the CRD to be Established")
        custom = client.CustomObjectsApi(kube)
        body = {
            "apiVersion": f"{group}/v1",
            "kind": "Widget",
            "metadata": {"name": "w1"},
            "spec": {"size": 3},
        }
        eventually(
            lambda: custom.create_namespaced_custom_object(group, "v1", namespace, plural, body),
            what="the new resource to be served",
        )
        got = custom.get_namespaced_custom_object(group, "v1", namespace, plural, "w1")
        assert got["spec"] == {"size": 3}  # type: ignore[index]
        with pytest.raises(client.ApiException) as invalid:
            custom.create_namespaced_custom_object(
                group,
                "v1",
                namespace,
                plural,
                {**body, "metadata": {"name": "w2"}, "spec": {"size": 0}},
            )
        assert invalid.value.status == 422
    finally:
        ext.delete_custom_resource_definition(name)


def test_kubectl_uses_the_kubeconfig(kubeconfig: Path) -> None:
    out = subprocess.run(
        [str(tool_path("kubectl")), "--kubeconfig", str(kubeconfig), "get", "nodes", "-o", "name"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.split()
    assert sorted(out) == [f"node/kwok-node-{i}" for i in range(3)]


def test_cluster_up_again_is_a_no_op(kubeconfig: Path) -> None:
    result = kommerce("cluster", "up")
    assert result.returncode == 0, result.stderr
    assert "already running" in result.stdout
    assert "nothing to do" in result.stdout
    assert kommerce("cluster", "kubeconfig").stdout.strip() == str(kubeconfig)
    status = kommerce("cluster", "status")
    assert status.returncode == 0, status.stdout
    assert "nodes 3/3 Ready" in status.stdout
