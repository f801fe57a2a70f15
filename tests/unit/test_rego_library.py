"""The Rego starter library (`policies/rego/`): its own tests pass with the real `opa`, and the
platform's manifests satisfy it, as the local overlay renders them and as the operator turns them
into Deployments and Pods.

The Policy operator loads each `policy.rego` on its own, with the Policy's `spec.parameters` as
`input.parameters` and a Kubernetes AdmissionRequest as `input.review`; these tests do the same
with `opa eval`.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from kommerce.api.v1alpha1.policy import PolicySpec
from kommerce.api.v1alpha1.service import ServiceSpec
from kommerce.tools.catalog import tool_path
from operators.service import children
from tests.helpers import REPO

pytestmark = pytest.mark.unit

LIBRARY = REPO / "policies" / "rego"
BASE = REPO / "manifests" / "base"
LOCAL = REPO / "manifests" / "overlays" / "local"
EXPECTED = {
    "required-labels",
    "allowed-images",
    "resource-limits",
    "no-privileged",
    "tier1-replicas",
    "pii-transit",
}
ENFORCING = {"deny", "warn"}

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Policy:
    name: str
    spec: dict[str, Any]

    @property
    def module(self) -> Path:
        return LIBRARY / self.name / "policy.rego"

    @property
    def package(self) -> str:
        return "kommerce.policies." + self.name.replace("-", "_")

    @property
    def action(self) -> str:
        return str(self.spec.get("enforcementAction", "deny"))

    def matches(self, group: str, kind: str, namespace: str) -> bool:
        """The operator's match: kinds (`*` is any) and namespaces (a trailing `*` is a prefix)."""
        match = self.spec.get("match", {})
        kinds = match.get("kinds", [])
        if kinds and not any(
            (group in k.get("apiGroups", ["*"]) or "*" in k.get("apiGroups", ["*"]))
            and (kind in k.get("kinds", ["*"]) or "*" in k.get("kinds", ["*"]))
            for k in kinds
        ):
            return False

        def hit(patterns: list[str]) -> bool:
            return any(
                namespace.startswith(p[:-1]) if p.endswith("*") else namespace == p
                for p in patterns
            )

        if match.get("namespaces") and not hit(match["namespaces"]):
            return False
        return not hit(match.get("excludedNamespaces", []))


def _tool(name: str) -> Path:
    path = tool_path(name)
    if not path.exists():
        pytest.skip(f"{name} is not installed: run `kommerce tools install`")
    return path


def _run(*argv: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def _source_policies() -> dict[str, Manifest]:
    return {
        path.parent.name: yaml.safe_load(path.read_text())
        for path in sorted(LIBRARY.glob("*/policy.yaml"))
    }


def _kustomize(directory: Path) -> list[Manifest]:
    result = _run(_tool("kubectl"), "kustomize", directory)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def _overlay_policies(tmp_path: Path) -> dict[str, Policy]:
    """The library's Policy resources with the local overlay's patches applied.

    `manifests/base/policies/` is generated from the policy.yaml files (rego inlined) and may not
    exist yet, so the overlay's patches are applied here to a copy of the policy.yaml files.
    """
    overlay = yaml.safe_load((LOCAL / "kustomization.yaml").read_text())
    resources = []
    for name in sorted(_source_policies()):
        shutil.copy(LIBRARY / name / "policy.yaml", tmp_path / f"{name}.yaml")
        resources.append(f"{name}.yaml")
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
        "patches": overlay.get("patches", []),
    }
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return {
        doc["metadata"]["name"]: Policy(doc["metadata"]["name"], doc["spec"])
        for doc in _kustomize(tmp_path)
        if doc["kind"] == "Policy"
    }


def _base_policies() -> dict[str, Policy]:
    return {name: Policy(name, doc["spec"]) for name, doc in _source_policies().items()}


def _review(manifest: Manifest, operation: str = "CREATE") -> dict[str, Any]:
    """A Kubernetes AdmissionRequest for the manifest, as the webhook would send it."""
    group, _, version = manifest["apiVersion"].rpartition("/")
    metadata = manifest["metadata"]
    return {
        "uid": f"test-{metadata['name']}",
        "kind": {"group": group, "version": version, "kind": manifest["kind"]},
        "operation": operation,
        "namespace": metadata.get("namespace", ""),
        "name": metadata["name"],
        "object": manifest,
        "oldObject": None,
        "userInfo": {"username": "system:admin", "groups": ["system:masters"]},
    }


def _generated(service: Manifest) -> list[Manifest]:
    """The Deployment the operator makes from a kommerce Service, and one of its Pods."""
    metadata = service["metadata"]
    body = copy.deepcopy(service)
    body["metadata"]["uid"] = f"uid-{metadata['name']}"
    owner = children.Owner(metadata["name"], metadata.get("namespace", "kommerce"), body)
    spec = ServiceSpec.model_validate(service["spec"])
    deployment = children.deployment(owner, spec, secret_names=[])
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            **deployment["spec"]["template"]["metadata"],
            "name": f"{metadata['name']}-7d4b9c-x2x9q",
            "namespace": owner.namespace,
        },
        "spec": deployment["spec"]["template"]["spec"],
    }
    return [deployment, pod]


def _evaluate(
    policies: dict[str, Policy], manifests: list[Manifest], tmp_path: Path
) -> dict[str, list[str]]:
    """policy name -> violation messages for every manifest the policy matches."""
    opa = _tool("opa")
    found: dict[str, list[str]] = {}
    for policy in policies.values():
        cases = []
        for manifest in manifests:
            review = _review(manifest)
            if policy.matches(review["kind"]["group"], manifest["kind"], review["namespace"]):
                cases.append({"review": review, "parameters": policy.spec.get("parameters", {})})
        assert cases, f"{policy.name} matched none of the manifests"
        data = tmp_path / f"{policy.name}-cases.json"
        data.write_text(json.dumps({"cases": cases}))
        query = (
            f"[v.msg | some c in data.cases; some v in data.{policy.package}.violation"
            " with input as c]"
        )
        result = _run(opa, "eval", "--format=json", "-d", policy.module, "-d", data, query)
        assert result.returncode == 0, result.stderr or result.stdout
        found[policy.name] = json.loads(result.stdout)["result"][0]["expressions"][0]["value"]
    return found


def _services(manifests: list[Manifest]) -> list[Manifest]:
    return [
        m
        for m in manifests
        if m["kind"] == "Service" and m["apiVersion"].startswith("kommerce.io/")
    ]


def _with_generated(services: list[Manifest]) -> list[Manifest]:
    return services + [child for s in services for child in _generated(s)]


def test_library_layout() -> None:
    policies = _source_policies()
    assert set(policies) == EXPECTED
    for name, doc in policies.items():
        module = (LIBRARY / name / "policy.rego").read_text()
        tests = [p.read_text() for p in sorted((LIBRARY / name).glob("*_test.rego"))]
        package = "kommerce.policies." + name.replace("-", "_")
        assert f"\npackage {package}\n" in f"\n{module}", name
        assert tests, f"{name} has no tests"
        assert all(f"\npackage {package}_test\n" in f"\n{t}" for t in tests), name
        assert doc["apiVersion"] == "kommerce.io/v1alpha1"
        assert doc["kind"] == "Policy"
        assert doc["metadata"] == {"name": name}, "cluster-scoped: a name and nothing else"
        assert "rego" not in doc["spec"]
        assert "tests" not in doc["spec"]
        # What the generator will produce must be a valid Policy spec.
        PolicySpec.model_validate({**doc["spec"], "rego": module, "tests": tests})


def test_opa_check_and_format() -> None:
    opa = _tool("opa")
    check = _run(opa, "check", "--strict", LIBRARY)
    assert check.returncode == 0, check.stderr or check.stdout
    unformatted = _run(opa, "fmt", "--list", LIBRARY)
    assert unformatted.returncode == 0, unformatted.stderr
    assert unformatted.stdout.strip() == "", (
        f"run `opa fmt --write policies/rego`:\n{unformatted.stdout}"
    )


def test_opa_test_passes() -> None:
    result = _run(_tool("opa"), "test", LIBRARY, "--format=json")
    assert result.stdout, result.stderr
    outcomes = json.loads(result.stdout)
    failed = [
        f"{o['package']}.{o['name']}: {o.get('error') or 'fail'}"
        for o in outcomes
        if o.get("fail") or o.get("error")
    ]
    assert not failed, "\n".join(failed)
    assert result.returncode == 0, result.stderr
    tested = {o["package"].removeprefix("data.") for o in outcomes}
    for name in EXPECTED:
        package = "kommerce.policies." + name.replace("-", "_") + "_test"
        per_policy = [o for o in outcomes if o["package"].removeprefix("data.") == package]
        assert len(per_policy) >= 8, f"{package}: {len(per_policy)} tests"
    assert tested == {"kommerce.policies." + n.replace("-", "_") + "_test" for n in EXPECTED}


def test_each_policy_passes_its_tests_alone() -> None:
    """As the Policy operator runs them: one module and its own test modules, nothing else."""
    opa = _tool("opa")
    for name in sorted(EXPECTED):
        directory = LIBRARY / name
        result = _run(opa, "test", directory / "policy.rego", *directory.glob("*_test.rego"))
        assert result.returncode == 0, f"{name}:\n{result.stdout}{result.stderr}"


def test_local_overlay_runs_tier1_replicas_in_dryrun(tmp_path: Path) -> None:
    policies = _overlay_policies(tmp_path)
    assert set(policies) == EXPECTED
    assert policies["tier1-replicas"].action == "dryrun"
    assert {p.action for n, p in policies.items() if n != "tier1-replicas"} == {"deny"}
    # Once the generated manifests/base/policies/ is part of the base, the real render agrees.
    for doc in _kustomize(LOCAL):
        if doc["kind"] == "Policy" and doc["metadata"]["name"] == "tier1-replicas":
            assert doc["spec"]["enforcementAction"] == "dryrun"


def test_local_platform_satisfies_the_policies(tmp_path: Path) -> None:
    services = _services(_kustomize(LOCAL))
    assert len(services) >= 20
    assert {s["spec"].get("replicas") for s in services} == {1}, "the overlay runs one of each"
    policies = _overlay_policies(tmp_path)
    found = _evaluate(policies, _with_generated(services), tmp_path)
    blocking = {n: msgs for n, msgs in found.items() if policies[n].action in ENFORCING and msgs}
    assert not blocking, json.dumps(blocking, indent=2)
    # The dryrun policy still sees what it would reject: the tier-1 Services at one replica.
    tier1 = {s["metadata"]["name"] for s in services if s["metadata"]["labels"]["tier"] == "tier-1"}
    reported = {m.split(":", 1)[0] for m in found["tier1-replicas"]}
    assert reported == {f"Service kommerce/{name}" for name in tier1}


def test_base_platform_satisfies_every_policy_at_deny(tmp_path: Path) -> None:
    services = _services(_kustomize(BASE))
    found = _evaluate(_base_policies(), _with_generated(services), tmp_path)
    assert not any(found.values()), json.dumps(found, indent=2)


def test_platform_services_are_labelled_and_pii_uses_transit() -> None:
    services = _services(_kustomize(BASE))
    for service in services:
        labels = service["metadata"]["labels"]
        assert {"team", "tier", "data-classification"} <= set(labels), service["metadata"]["name"]
        if labels["data-classification"] == "pii":
            assert service["spec"]["dependencies"]["transit"] is True
    pii = {
        s["metadata"]["name"]
        for s in services
        if s["metadata"]["labels"]["data-classification"] == "pii"
    }
    assert {"user", "order", "payment", "notification"} <= pii


def test_broken_manifests_are_caught(tmp_path: Path) -> None:
    """A control: each policy rejects something when evaluated exactly like the platform is."""
    broken = {
        "apiVersion": "kommerce.io/v1alpha1",
        "kind": "Service",
        "metadata": {
            "name": "broken",
            "namespace": "kommerce",
            "labels": {"team": "x", "tier": "tier-1", "data-classification": "pii"},
        },
        "spec": {
            "image": "ghcr.io/kommerce/broken",
            "version": "latest",
            "replicas": 1,
            "resources": {"requests": {"cpu": "1"}},
            "dependencies": {"transit": False},
        },
    }
    unlabelled = copy.deepcopy(broken)
    unlabelled["metadata"] = {"name": "unlabelled", "namespace": "kommerce"}
    deployment, pod = _generated(broken)
    for workload in (deployment, pod):
        spec = workload["spec"]["template"]["spec"] if "template" in workload["spec"] else None
        spec = spec or workload["spec"]
        spec["containers"][0]["securityContext"]["privileged"] = True
    found = _evaluate(_base_policies(), [broken, unlabelled, deployment, pod], tmp_path)
    for name in EXPECTED:
        assert found[name], f"{name} found nothing wrong"
    subjects = {m.split(":", 1)[0] for msgs in found.values() for m in msgs}
    assert subjects == {
        "Service kommerce/broken",
        "Service kommerce/unlabelled",
        "Deployment kommerce/broken",
        "Pod kommerce/broken-7d4b9c-x2x9q",
    }
    assert "Service kommerce/unlabelled: label `team` is missing" in "\n".join(
        found["required-labels"]
    )
