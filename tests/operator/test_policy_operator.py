"""`Policy` resources against the real operator, OPA and API server: tests gate activation,
admission denies/warns/counts, the audit finds what already exists, OPA outages heal."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client

from kommerce.tools.catalog import tool_path
from tests.helpers import eventually, kommerce

pytestmark = pytest.mark.operator

GROUP, VERSION, PLURAL = "kommerce.io", "v1alpha1", "policies"

MODULE = """package kommerce.policies.{snake}

violation contains {{"msg": msg}} if {{
\tinput.review.operation != "DELETE"
\tlabel := input.parameters.label
\tnot input.review.object.metadata.labels[label]
\tmsg := sprintf("%s %s has no %s label", [input.review.kind.kind, input.review.name, label])
}}
"""

TESTS = """package kommerce.policies.{snake}_test

import data.kommerce.policies.{snake}

review(labels) := {{"review": {{
\t"operation": "CREATE",
\t"kind": {{"group": "apps", "version": "v1", "kind": "Deployment"}},
\t"name": "web",
\t"object": {{"metadata": {{"name": "web", "labels": labels}}}},
}}, "parameters": {{"label": "team"}}}}

test_missing_label_is_a_violation if {{
\tcount({snake}.violation) == 1 with input as review({{}})
}}

test_labelled_object_passes if {{
\tcount({snake}.violation) == {expected} with input as review({{"team": "a"}})
}}
"""


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def _snake(name: str) -> str:
    return name.replace("-", "_")


def _policy(
    name: str,
    *,
    namespace: str,
    action: str = "deny",
    label: str = "team",
    kinds: list[dict[str, list[str]]] | None = None,
    broken_test: bool = False,
    module: str | None = None,
) -> dict[str, Any]:
    snake = _snake(name)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Policy",
        "metadata": {"name": name},
        "spec": {
            "description": "objects carry a label",
            "enforcementAction": action,
            "match": {
                "kinds": kinds
                or [
                    {"apiGroups": ["apps"], "kinds": ["Deployment"]},
                    {"apiGroups": ["kommerce.io"], "kinds": ["Service"]},
                ],
                "namespaces": [namespace],
            },
            "parameters": {"label": label},
            "rego": module or MODULE.format(snake=snake),
            "tests": [TESTS.format(snake=snake, expected=1 if broken_test else 0)],
        },
    }


@pytest.fixture
def policies(kube: client.ApiClient) -> Iterator[Callable[[dict[str, Any]], None]]:
    """Create Policy resources; every one is deleted (and waited for) afterwards."""
    custom = client.CustomObjectsApi(kube)
    created: list[str] = []

    def create(body: dict[str, Any]) -> None:
        custom.create_cluster_custom_object(GROUP, VERSION, PLURAL, body)
        created.append(body["metadata"]["name"])

    yield create
    for name in created:
        try:
            custom.delete_cluster_custom_object(GROUP, VERSION, PLURAL, name)
        except client.ApiException as exc:
            if exc.status != 404:
                raise
    eventually(
        lambda: (
            not {
                i["metadata"]["name"]
                for i in custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)["items"]
            }
            & set(created)
        ),
        what="test policies deleted",
    )


def _get(kube: client.ApiClient, name: str) -> dict[str, Any]:
    got: dict[str, Any] = client.CustomObjectsApi(kube).get_cluster_custom_object(
        GROUP, VERSION, PLURAL, name
    )
    return got


def _condition(kube: client.ApiClient, name: str, kind: str) -> str:
    for c in _get(kube, name).get("status", {}).get("conditions", []):
        if c["type"] == kind:
            return f"{c['status']}/{c['reason']}"
    return ""


def _opa_module(stack_env: dict[str, str], name: str) -> str | None:
    resp = httpx.get(f"{stack_env['KOMMERCE_OPA_URL']}/v1/policies/kommerce/{name}", timeout=5)
    if resp.status_code == 404:
        return None
    resp.raise_for_status()
    raw: str = resp.json()["result"]["raw"]
    return raw


def _deployment(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "ghcr.io/kommerce/web:1.0.0"}]},
            },
        },
    }


def _service(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "kommerce.io/v1alpha1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"image": "ghcr.io/kommerce/order", "version": "1.0.0", "replicas": 1},
    }


def _kubectl_apply(
    kubeconfig: Path, namespace: str, body: dict[str, Any]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(tool_path("kubectl")),
            "--kubeconfig",
            str(kubeconfig),
            "-n",
            namespace,
            "apply",
            "-f",
            "-",
        ],
        input=json.dumps(body),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _active(kube: client.ApiClient, name: str, generation: int | None = None) -> bool:
    status = _get(kube, name).get("status", {})
    if generation is not None and status.get("observedGeneration") != generation:
        return False
    return bool(status.get("active")) and _condition(kube, name, "Ready") == "True/Active"


def test_failing_tests_block_activation_and_the_last_good_version_stays(
    operator: subprocess.Popen[bytes],
    kube: client.ApiClient,
    namespace: str,
    stack_env: dict[str, str],
    policies: Callable[[dict[str, Any]], None],
) -> None:
    name = _name("gate")
    failing = f"kommerce.policies.{_snake(name)}_test.test_labelled_object_passes"
    policies(_policy(name, namespace=namespace, broken_test=True))
    eventually(
        lambda: _condition(kube, name, "TestsPassed") == "False/TestsFailed",
        what="TestsPassed=False",
    )
    status = _get(kube, name)["status"]
    assert status["active"] is False
    assert status["tests"] == {"passed": 1, "failed": 1, "failures": [failing]}
    assert _condition(kube, name, "Ready") == "False/TestsFailed"
    assert failing in next(c for c in status["conditions"] if c["type"] == "Ready")["message"]
    assert _opa_module(stack_env, name) is None  # never loaded

    custom = client.CustomObjectsApi(kube)
    good = _policy(name, namespace=namespace)["spec"]
    patched = custom.patch_cluster_custom_object(GROUP, VERSION, PLURAL, name, {"spec": good})
    generation = patched["metadata"]["generation"]  # type: ignore[index]
    eventually(lambda: _active(kube, name, generation), what="activated once the tests pass")
    assert _opa_module(stack_env, name) == good["rego"]
    assert _get(kube, name)["status"]["tests"] == {"passed": 2, "failed": 0, "failures": []}

    # A new version whose tests fail is refused; the last good one stays enforced.
    bad = _policy(name, namespace=namespace, broken_test=True)["spec"]
    bad["rego"] += "\n# a newer version\n"
    patched = custom.patch_cluster_custom_object(GROUP, VERSION, PLURAL, name, {"spec": bad})
    eventually(
        lambda: (
            _get(kube, name)["status"].get("observedGeneration")
            == patched["metadata"]["generation"]  # type: ignore[index]
            and _condition(kube, name, "Ready") == "False/TestsFailed"
        ),
        what="the newer version refused",
    )
    status = _get(kube, name)["status"]
    assert status["active"] is True
    assert status["activeGeneration"] == generation
    assert status["tests"]["failures"] == [failing]
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert f"generation {generation} stays active" in ready["message"]
    assert _opa_module(stack_env, name) == good["rego"]


def test_deny_warn_and_dryrun_at_admission(
    operator: subprocess.Popen[bytes],
    operator_log: Path,
    kube: client.ApiClient,
    kubeconfig: Path,
    namespace: str,
    metrics_port: int,
    policies: Callable[[dict[str, Any]], None],
) -> None:
    deny, warn, dry = _name("deny"), _name("warn"), _name("dry")
    policies(_policy(deny, namespace=namespace, action="deny", label="team"))
    policies(_policy(warn, namespace=namespace, action="warn", label="owner"))
    policies(_policy(dry, namespace=namespace, action="dryrun", label="cost-center"))
    for name in (deny, warn, dry):
        eventually(lambda name=name: _active(kube, name), what=f"{name} active")
    apps = client.AppsV1Api(kube)

    # deny: rejected with the policy's message, for workloads and kommerce.io resources alike
    with pytest.raises(client.ApiException) as denied:
        apps.create_namespaced_deployment(namespace, _deployment("bare"))
    assert denied.value.status == 403
    assert f"[{deny}] Deployment bare has no team label" in str(denied.value.body)
    with pytest.raises(client.ApiException) as denied_service:
        client.CustomObjectsApi(kube).create_namespaced_custom_object(
            GROUP, VERSION, namespace, "services", _service("order")
        )
    assert "kommerce-resources.policy.kommerce.io" in str(denied_service.value.body)
    assert f"[{deny}] Service order has no team label" in str(denied_service.value.body)

    # warn: admitted, and kubectl shows the warning; dryrun: admitted silently, only counted
    applied = _kubectl_apply(kubeconfig, namespace, _deployment("web", {"team": "shop"}))
    assert applied.returncode == 0, applied.stderr
    assert f"Warning: [{warn}] Deployment web has no owner label" in applied.stderr
    assert "cost-center" not in applied.stderr
    assert apps.read_namespaced_deployment("web", namespace).metadata.labels == {"team": "shop"}  # type: ignore[union-attr]
    text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
    assert (
        f'kommerce_policy_admission_violations_total{{enforcement_action="dryrun",policy="{dry}"}}'
        in text
    )
    assert 'kommerce_policy_admission_requests_total{decision="denied",webhook="workloads"}' in text
    assert f"[{dry}] Deployment web has no cost-center label" in operator_log.read_text()

    # compliant with all three: admitted without warnings
    clean = _kubectl_apply(
        kubeconfig, namespace, _deployment("ok", {"team": "a", "owner": "b", "cost-center": "c"})
    )
    assert clean.returncode == 0, clean.stderr
    assert "Warning" not in clean.stderr


def test_audit_finds_objects_that_existed_before_the_policy(
    operator: subprocess.Popen[bytes],
    kube: client.ApiClient,
    namespace: str,
    metrics_port: int,
    stack_env: dict[str, str],
    policies: Callable[[dict[str, Any]], None],
) -> None:
    core, apps = client.CoreV1Api(kube), client.AppsV1Api(kube)
    for i in range(3):
        apps.create_namespaced_deployment(namespace, _deployment(f"old-{i}"))
    apps.create_namespaced_deployment(namespace, _deployment("labelled", {"team": "a"}))
    for i in range(25):  # more than the status keeps
        core.create_namespaced_config_map(namespace, {"metadata": {"name": f"cm-{i:02d}"}})  # type: ignore[arg-type]
    deployments, configmaps = _name("audit-deploy"), _name("audit-cm")
    policies(_policy(deployments, namespace=namespace))
    policies(
        _policy(
            configmaps, namespace=namespace, kinds=[{"apiGroups": [""], "kinds": ["ConfigMap"]}]
        )
    )
    status = eventually(
        lambda: (
            _get(kube, deployments).get("status", {}).get("lastAudit")
            and _get(kube, deployments)["status"]
        ),
        what="the first audit",
    )
    assert status["totalViolations"] == 3
    assert [(v["kind"], v["namespace"], v["name"]) for v in status["violations"]] == [
        ("Deployment", namespace, f"old-{i}") for i in range(3)
    ]
    assert status["violations"][0]["message"] == "Deployment old-0 has no team label"
    status = eventually(
        lambda: (
            _get(kube, configmaps).get("status", {}).get("lastAudit")
            and _get(kube, configmaps)["status"]
        ),
        what="the ConfigMap audit",
    )
    # 25 labelless ConfigMaps (and kube-root-ca.crt once published): all counted, 20 listed
    assert status["totalViolations"] in (25, 26)
    assert len(status["violations"]) == 20
    text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
    assert (
        f'kommerce_policy_violations{{enforcement_action="deny",policy="{deployments}"}} 3.0'
        in text
    )

    # The CLI runs the same audit once and fails on deny violations.
    result = kommerce("policy", "audit", "--policy", deployments, env=stack_env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{deployments} (deny): 3 violations" in result.stderr
    rows = [line.split() for line in result.stdout.splitlines()[1:]]
    assert [r[:5] for r in rows] == [
        [deployments, "deny", "Deployment", namespace, f"old-{i}"] for i in range(3)
    ]


def test_opa_outage_degrades_and_recovers(
    operator: subprocess.Popen[bytes],
    kube: client.ApiClient,
    namespace: str,
    stack_env: dict[str, str],
    policies: Callable[[dict[str, Any]], None],
) -> None:
    from kommerce.runtime import orchestrate
    from kommerce.stack.servers import servers

    name = _name("outage")
    policies(_policy(name, namespace=namespace))
    eventually(lambda: _active(kube, name), what="active")
    apps = client.AppsV1Api(kube)
    opa = [s for s in servers() if s.name == "opa"]
    orchestrate.down(opa, say=lambda _m: None)
    try:
        eventually(
            lambda: _condition(kube, name, "Degraded") == "True/OpaUnavailable",
            timeout=60,
            what="Degraded",
        )
        assert _condition(kube, name, "Ready") == "False/OpaUnavailable"
        message = next(
            c["message"]
            for c in _get(kube, name)["status"]["conditions"]
            if c["type"] == "Degraded"
        )
        assert "cannot reach OPA" in message
        # Failure policies: workloads are admitted (Ignore), kommerce.io resources are not (Fail).
        apps.create_namespaced_deployment(namespace, _deployment("during-outage"))
        with pytest.raises(client.ApiException) as refused:
            client.CustomObjectsApi(kube).create_namespaced_custom_object(
                GROUP, VERSION, namespace, "services", _service("order", {"team": "a"})
            )
        assert "failed calling webhook" in str(refused.value.body)
    finally:
        orchestrate.up(opa, say=lambda _m: None)
    # OPA came back empty: the operator loads the policy again by itself.
    eventually(
        lambda: (
            _condition(kube, name, "Degraded") == "False/OpaReachable"
            and _condition(kube, name, "Ready") == "True/Active"
        ),
        timeout=90,
        what="recovered",
    )
    assert _opa_module(stack_env, name) is not None
    with pytest.raises(client.ApiException) as denied:
        apps.create_namespaced_deployment(namespace, _deployment("after-outage"))
    assert f"[{name}]" in str(denied.value.body)


def test_deletion_unloads_the_policy(
    operator: subprocess.Popen[bytes],
    kube: client.ApiClient,
    namespace: str,
    stack_env: dict[str, str],
    policies: Callable[[dict[str, Any]], None],
) -> None:
    name = _name("gone")
    policies(_policy(name, namespace=namespace))
    eventually(lambda: _active(kube, name), what="active")
    assert _opa_module(stack_env, name) is not None
    client.CustomObjectsApi(kube).delete_cluster_custom_object(GROUP, VERSION, PLURAL, name)
    eventually(lambda: _opa_module(stack_env, name) is None, what="unloaded from OPA")
    client.AppsV1Api(kube).create_namespaced_deployment(namespace, _deployment("unlabelled"))


def test_rego_from_a_configmap_follows_its_changes(
    operator: subprocess.Popen[bytes],
    kube: client.ApiClient,
    namespace: str,
    stack_env: dict[str, str],
    policies: Callable[[dict[str, Any]], None],
) -> None:
    name = _name("cm")
    snake = _snake(name)
    core = client.CoreV1Api(kube)
    body = _policy(name, namespace=namespace)
    module = body["spec"].pop("rego")
    body["spec"]["regoFrom"] = {
        "configMapKeyRef": {"namespace": namespace, "name": "rego", "key": "policy.rego"}
    }
    policies(body)
    eventually(
        lambda: _condition(kube, name, "Ready") == "False/SourceUnavailable",
        what="waiting for the ConfigMap",
    )
    core.create_namespaced_config_map(
        namespace,
        {"metadata": {"name": "rego"}, "data": {"policy.rego": module}},  # type: ignore[arg-type]
    )
    eventually(lambda: _active(kube, name), what="active from the ConfigMap")
    changed = module + f"\n# v2 of {snake}\n"
    core.patch_namespaced_config_map("rego", namespace, {"data": {"policy.rego": changed}})
    eventually(lambda: _opa_module(stack_env, name) == changed, what="the change loaded")
