"""The operator's Helm chart lints, renders, and its output is accepted by the API server."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from kommerce.api.registry import CRD_DIR
from kommerce.tools.catalog import tool_path
from tests.helpers import REPO

pytestmark = pytest.mark.cluster

CHART = REPO / "charts" / "kommerce-operator"


def _run(*argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), input=stdin, capture_output=True, text=True, timeout=120, check=False
    )


def test_helm_lint() -> None:
    result = _run(str(tool_path("helm")), "lint", "--strict", str(CHART))
    assert result.returncode == 0, result.stdout + result.stderr


def test_rendered_chart_passes_server_side_dry_run(kubeconfig: Path) -> None:
    kubectl = [str(tool_path("kubectl")), "--kubeconfig", str(kubeconfig)]
    # The CRDs must exist for the ClusterKopfPeering in the templates to be validated.
    crds = _run(*kubectl, "apply", "--server-side", "--force-conflicts", "-f", str(CRD_DIR))
    assert crds.returncode == 0, crds.stderr
    rendered = _run(
        str(tool_path("helm")),
        "template",
        "kommerce",
        str(CHART),
        "--namespace",
        "default",
        "--set",
        "watchNamespaces={shop,payments}",
    )
    assert rendered.returncode == 0, rendered.stderr
    kinds = {d["kind"] for d in yaml.safe_load_all(rendered.stdout) if d}
    assert kinds == {
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "ClusterKopfPeering",
        "Deployment",
        "PodDisruptionBudget",
        "Service",
    }
    dry = _run(*kubectl, "apply", "--dry-run=server", "-f", "-", stdin=rendered.stdout)
    assert dry.returncode == 0, dry.stderr
    assert "--namespace=payments" in rendered.stdout


def test_chart_crds_match_the_generated_ones() -> None:
    for path in CRD_DIR.glob("*.yaml"):
        assert (CHART / "crds" / path.name).read_text() == path.read_text()
