"""The generated Service CRD is served, explained, and rejects invalid specs at admission."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from kommerce.api.registry import CRD_DIR
from kommerce.tools.catalog import tool_path

pytestmark = pytest.mark.cluster


def kubectl(
    kubeconfig: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tool_path("kubectl")), "--kubeconfig", str(kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def crds_installed(kubeconfig: Path) -> Path:
    applied = kubectl(kubeconfig, "apply", "--server-side", "-f", str(CRD_DIR))
    assert applied.returncode == 0, applied.stderr
    waited = kubectl(
        kubeconfig,
        "wait",
        "--for",
        "condition=Established",
        "--timeout=60s",
        "crd/services.kommerce.io",
    )
    assert waited.returncode == 0, waited.stderr
    deadline = time.monotonic() + 30  # discovery catches up with a new group
    while kubectl(kubeconfig, "get", "ksv").returncode != 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    return kubeconfig


def service(**spec: Any) -> str:
    body = {"image": "ghcr.io/kommerce/order", "version": "1.2.0", **spec}
    return yaml.safe_dump(
        {
            "apiVersion": "kommerce.io/v1alpha1",
            "kind": "Service",
            "metadata": {"name": "order", "namespace": "default"},
            "spec": body,
        }
    )


def test_valid_service_is_accepted(crds_installed: Path) -> None:
    result = kubectl(
        crds_installed,
        "apply",
        "--dry-run=server",
        "-f",
        "-",
        stdin=service(
            replicas=2,
            ports=[{"name": "http", "port": 8080}, {"name": "grpc", "port": 9090}],
            dependencies={
                "database": {},
                "topics": [{"name": "orders.v1", "partitions": 6}],
                "cache": True,
            },
            callers=["checkout", "platform-api"],
            exposure={"type": "Ingress", "host": "shop.kommerce.test", "path": "/orders"},
            monitoring={
                "availability": {"objective": 99.9},
                "latency": {"thresholdMs": 300, "objective": 99},
            },
        ),
    )
    assert result.returncode == 0, result.stderr


INVALID = [
    (
        {"replicas": 2, "autoscaling": {"minReplicas": 2, "maxReplicas": 4}},
        "set either replicas or autoscaling, not both",
    ),
    (
        {"autoscaling": {"minReplicas": 5, "maxReplicas": 2}},
        "autoscaling.minReplicas must not exceed autoscaling.maxReplicas",
    ),
    (
        {"ports": [{"name": "http", "port": 8080}, {"name": "http", "port": 9090}]},
        "port names must be unique",
    ),
    (
        {"ports": [{"name": "http", "port": 8080}, {"name": "admin", "port": 8080}]},
        "port numbers must be unique",
    ),
    ({"exposure": {"type": "Ingress"}}, "exposure.host is required when exposure.type is Ingress"),
    ({"dependencies": {"topics": [{"name": "orders v1"}]}}, "spec.dependencies.topics[0].name"),
    (
        {"dependencies": {"topics": [{"name": "orders.v1", "partitions": 0}]}},
        "spec.dependencies.topics[0].partitions",
    ),
    (
        {"monitoring": {"availability": {"objective": 100}}},
        "spec.monitoring.availability.objective",
    ),
    ({"replicas": -1}, "spec.replicas"),
    ({"ports": [{"name": "http", "port": 70000}]}, "spec.ports[0].port"),
    ({"callers": ["Not_A_Service"]}, "spec.callers[0]"),
    ({"resources": {"requests": {"cpu": "lots"}}}, "spec.resources.requests.cpu"),
    ({"deletionPolicy": "Sometimes"}, "spec.deletionPolicy"),
]


@pytest.mark.parametrize(("spec", "message"), INVALID, ids=[m for _, m in INVALID])
def test_invalid_spec_rejected_at_admission(
    crds_installed: Path, spec: dict[str, Any], message: str
) -> None:
    result = kubectl(crds_installed, "apply", "--dry-run=server", "-f", "-", stdin=service(**spec))
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_missing_required_fields_rejected(crds_installed: Path) -> None:
    body = yaml.safe_dump(
        {
            "apiVersion": "kommerce.io/v1alpha1",
            "kind": "Service",
            "metadata": {"name": "x", "namespace": "default"},
            "spec": {},
        }
    )
    result = kubectl(crds_installed, "apply", "--dry-run=server", "-f", "-", stdin=body)
    assert result.returncode != 0
    assert "spec.image: Required value" in result.stderr
    assert "spec.version: Required value" in result.stderr


def test_kubectl_explain_shows_descriptions(crds_installed: Path) -> None:
    result = kubectl(crds_installed, "explain", "ksv.spec.dependencies.topics")
    assert result.returncode == 0, result.stderr
    assert "Kafka topics it owns" in result.stdout
    assert "retentionHours" in result.stdout
    listed = kubectl(crds_installed, "api-resources", "--categories", "kommerce", "-o", "name")
    assert "services.kommerce.io" in listed.stdout
