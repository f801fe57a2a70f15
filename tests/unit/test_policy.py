"""The pure parts of the Policy operator: model, names, matching, decisions, test reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kommerce.api import policy_library
from kommerce.api.crd import custom_resource_definition
from kommerce.api.v1alpha1.policy import POLICY, EnforcementAction, Match, PolicySpec
from operators.policy import audit, decision, rego, regotest, watcher, webhookconfig
from operators.policy.index import ACTIVE_ANNOTATION as ACTIVE
from operators.policy.index import ActivePolicy, PolicyIndex, Target, matches

pytestmark = pytest.mark.unit

MODULE = 'package kommerce.policies.team_label\n\nviolation contains {"msg": "x"} if false\n'


def _active(name: str = "team-label", action: str = "deny", **match: Any) -> ActivePolicy:
    return ActivePolicy(
        name=name,
        package=rego.expected_package(name),
        module=MODULE,
        action=EnforcementAction(action),
        match=Match.model_validate(match),
        parameters={"label": "team"},
        generation=3,
    )


# --- model -------------------------------------------------------------------------------------


def test_crd_is_cluster_scoped_with_one_of_rego_or_rego_from() -> None:
    crd = custom_resource_definition(POLICY)
    assert crd["metadata"]["name"] == "policies.kommerce.io"
    assert crd["spec"]["scope"] == "Cluster"
    assert crd["spec"]["names"]["shortNames"] == ["kpol"]
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["x-kubernetes-validations"][0]["rule"] == "has(self.rego) != has(self.regoFrom)"
    assert spec["properties"]["parameters"]["x-kubernetes-preserve-unknown-fields"] is True
    assert spec["properties"]["enforcementAction"]["enum"] == ["deny", "warn", "dryrun"]


def test_spec_defaults_and_validation() -> None:
    spec = PolicySpec.model_validate({"rego": MODULE})
    assert spec.enforcement_action == EnforcementAction.DENY
    assert spec.parameters == {}
    assert spec.match.kinds == []
    ref = {"configMapKeyRef": {"namespace": "a", "name": "b", "key": "c.rego"}}
    assert PolicySpec.model_validate({"regoFrom": ref}).rego is None
    with pytest.raises(ValueError, match="exactly one of rego and regoFrom"):
        PolicySpec.model_validate({"rego": MODULE, "regoFrom": ref})
    with pytest.raises(ValueError, match="exactly one of rego and regoFrom"):
        PolicySpec.model_validate({})
    with pytest.raises(ValueError, match="enforcementAction"):
        PolicySpec.model_validate({"rego": MODULE, "enforcementAction": "block"})


# --- names -------------------------------------------------------------------------------------


def test_names_tie_a_policy_to_its_package_id_and_query_path() -> None:
    assert rego.expected_package("required-labels") == "kommerce.policies.required_labels"
    assert rego.policy_id("required-labels") == "kommerce/required-labels"
    assert (
        rego.violation_path("kommerce.policies.required_labels")
        == "/v1/data/kommerce/policies/required_labels/violation"
    )
    module = "# METADATA\n# title: x\npackage kommerce.policies.a_b  # comment\n\nimport rego.v1\n"
    assert rego.package_of(module) == "kommerce.policies.a_b"
    assert rego.package_of("# package not.this\nx := 1\n") is None


# --- matching ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("match", "target", "expected"),
    [
        ({}, Target("apps", "Deployment", "shop"), True),
        ({}, Target("", "Namespace", ""), True),
        (
            {"kinds": [{"apiGroups": ["apps"], "kinds": ["Deployment"]}]},
            Target("apps", "Deployment", "s"),
            True,
        ),
        (
            {"kinds": [{"apiGroups": ["apps"], "kinds": ["Deployment"]}]},
            Target("apps", "StatefulSet", "s"),
            False,
        ),
        ({"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}]}, Target("", "Pod", "s"), True),
        ({"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}]}, Target("apps", "Pod", "s"), False),
        (
            {"kinds": [{"apiGroups": ["*"], "kinds": ["Service"]}]},
            Target("kommerce.io", "Service", "s"),
            True,
        ),
        ({"kinds": [{"apiGroups": ["kommerce.io"]}]}, Target("kommerce.io", "Secret", "s"), True),
        ({"namespaces": ["shop"]}, Target("apps", "Deployment", "shop"), True),
        ({"namespaces": ["shop"]}, Target("apps", "Deployment", "other"), False),
        ({"namespaces": ["t-*"]}, Target("apps", "Deployment", "t-1234"), True),
        ({"namespaces": ["shop"]}, Target("", "Namespace", ""), False),
        ({"excludedNamespaces": ["kube-*"]}, Target("", "Pod", "kube-public"), False),
        ({"excludedNamespaces": ["kube-*"]}, Target("", "Namespace", ""), True),
    ],
)
def test_matching(match: dict[str, Any], target: Target, expected: bool) -> None:
    assert matches(Match.model_validate(match), target) is expected


def test_target_of_an_admission_request() -> None:
    request = {"kind": {"group": "", "version": "v1", "kind": "Pod"}, "namespace": "shop"}
    assert Target.of_request(request) == Target("", "Pod", "shop")
    assert Target.of_request({"kind": {"group": "x", "kind": "Y"}}).namespace == ""


def test_index_snapshots() -> None:
    index = PolicyIndex()
    index.put(_active("b", kinds=[{"apiGroups": ["apps"], "kinds": ["Deployment"]}]))
    index.put(_active("a"))
    snapshot = index.all()
    assert [p.name for p in snapshot] == ["a", "b"]
    assert [p.name for p in index.matching(Target("", "Pod", "x"))] == ["a"]
    index.remove("a")
    assert [p.name for p in snapshot] == ["a", "b"]  # readers keep what they took
    assert [p.name for p in index.all()] == ["b"]


def test_active_policy_survives_its_annotation() -> None:
    policy = _active(namespaces=["shop"])
    again = ActivePolicy.from_annotation(policy.name, policy.annotation())
    assert again == policy
    assert again is not None
    assert again.digest == policy.digest
    assert ActivePolicy.from_annotation("x", None) is None
    assert ActivePolicy.from_annotation("x", '{"module": 1}') is None


# --- decisions ---------------------------------------------------------------------------------


def test_deny_rejects_with_every_message() -> None:
    d = decision.decide(
        [
            decision.Outcome(_active("a"), messages=("one", "two")),
            decision.Outcome(_active("b"), messages=()),
        ]
    )
    assert (d.allowed, d.label, d.message) == (False, "denied", "[a] one; [a] two")
    response = decision.review_response("uid-1", d)["response"]
    assert response == {
        "uid": "uid-1",
        "allowed": False,
        "status": {"code": 403, "reason": "Forbidden", "message": "[a] one; [a] two"},
    }


def test_warn_admits_with_warnings_and_dryrun_only_records() -> None:
    d = decision.decide(
        [
            decision.Outcome(_active("w", "warn"), messages=("careful",)),
            decision.Outcome(_active("d", "dryrun"), messages=("counted",)),
        ]
    )
    assert (d.allowed, d.label, d.warnings, d.dryrun) == (
        True,
        "warned",
        ("[w] careful",),
        ("[d] counted",),
    )
    assert d.violations == {"w": 1, "d": 1}
    response = decision.review_response("u", d)
    assert response["apiVersion"] == "admission.k8s.io/v1"
    assert response["response"] == {"uid": "u", "allowed": True, "warnings": ["[w] careful"]}


def test_evaluation_errors_fail_deny_policies_but_only_warn_for_others() -> None:
    failed = decision.decide([decision.Outcome(_active("a"), error="OPA down")])
    assert (failed.label, failed.error) == ("error", "[a] OPA down")
    soft = decision.decide([decision.Outcome(_active("w", "warn"), error="OPA down")])
    assert soft.allowed
    assert soft.warnings == ("[w] policy could not be evaluated: OPA down",)


def test_review_input_is_the_contract() -> None:
    request = {"uid": "1", "operation": "CREATE", "object": {"metadata": {"name": "x"}}}
    body = json.loads(decision.review_input(request, json.dumps({"label": "team"})))
    assert body == {"input": {"review": request, "parameters": {"label": "team"}}}


def test_bookkeeping_updates_are_exempt() -> None:
    old = {"metadata": {"name": "x", "labels": {"a": "1"}, "resourceVersion": "1"}, "spec": {}}
    annotated = {
        "metadata": {
            "name": "x",
            "labels": {"a": "1"},
            "resourceVersion": "2",
            "annotations": {"kopf": "x"},
            "finalizers": ["kommerce.io/finalizer"],
        },
        "spec": {},
        "status": {"ready": True},
    }
    relabelled = {"metadata": {"name": "x", "labels": {}}, "spec": {}}
    deleting = {"metadata": {"name": "x", "deletionTimestamp": "2026-01-01T00:00:00Z"}}
    update = {"operation": "UPDATE", "oldObject": old}
    assert decision.exempt({**update, "object": annotated})
    assert decision.exempt({**update, "object": deleting})
    assert not decision.exempt({**update, "object": relabelled})
    assert not decision.exempt({"operation": "CREATE", "object": annotated, "oldObject": None})


def test_audit_input_says_audit() -> None:
    kind = audit.Kind("apps", "v1", "Deployment", "deployments", namespaced=True)
    obj = {"metadata": {"name": "web", "namespace": "shop", "uid": "u"}}
    review = audit.audit_request(kind, obj)
    assert review["operation"] == "AUDIT"
    assert review["kind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
    assert review["resource"]["resource"] == "deployments"
    assert (review["namespace"], review["name"], review["oldObject"]) == ("shop", "web", None)


# --- webhook configuration ---------------------------------------------------------------------


def test_webhook_configuration() -> None:
    local = webhookconfig.Endpoint(url="https://127.0.0.1:9443")
    vwc = webhookconfig.configuration(endpoint=local, ca_bundle=b"CA")
    assert vwc["metadata"]["name"] == "kommerce-policy"
    kommerce, workloads = vwc["webhooks"]
    assert kommerce["failurePolicy"] == "Fail"
    assert workloads["failurePolicy"] == "Ignore"
    assert kommerce["clientConfig"]["url"] == "https://127.0.0.1:9443/validate/kommerce"
    assert kommerce["clientConfig"]["caBundle"] == "Q0E="
    assert kommerce["rules"][0]["apiGroups"] == ["kommerce.io"]
    assert "policies" in kommerce["matchConditions"][0]["expression"]
    assert {
        r["operations"] == ["CREATE", "UPDATE"] for r in kommerce["rules"] + workloads["rules"]
    } == {True}
    resources = {res for r in workloads["rules"] for res in r["resources"]}
    assert resources == {"deployments", "statefulsets", "daemonsets", "pods"}
    selector = kommerce["namespaceSelector"]["matchExpressions"]
    assert {
        "key": "kubernetes.io/metadata.name",
        "operator": "NotIn",
        "values": ["kube-system"],
    } in selector
    assert {
        "key": "admission.kommerce.io/ignore",
        "operator": "NotIn",
        "values": ["true"],
    } in selector
    assert local.local
    assert local.hosts() == ["127.0.0.1"]
    svc = webhookconfig.Endpoint(service_namespace="ops", service_name="hook", service_port=443)
    strict = webhookconfig.configuration(
        endpoint=svc, ca_bundle=b"CA", workload_failure_policy="Fail"
    )
    assert strict["webhooks"][1]["failurePolicy"] == "Fail"
    assert strict["webhooks"][0]["clientConfig"]["service"] == {
        "namespace": "ops",
        "name": "hook",
        "path": "/validate/kommerce",
        "port": 443,
    }
    assert not svc.local
    assert svc.hosts() == ["hook.ops.svc", "hook.ops.svc.cluster.local"]


# --- rego tests (the real opa binary) ----------------------------------------------------------

TESTS = """package kommerce.policies.team_label_test

import data.kommerce.policies.team_label

test_passes if count(team_label.violation) == 0

test_fails if count(team_label.violation) == 1
"""


def test_opa_test_reports_failing_test_names() -> None:
    report, text = regotest.run_sync(MODULE, [TESTS], verbose=True)
    assert (report.passed, report.failed) == (1, 1)
    assert report.failures == ("kommerce.policies.team_label_test.test_fails",)
    assert not report.ok
    assert "FAIL" in text
    assert "policy_0_test.rego" in text


def test_a_module_that_does_not_compile_is_an_error() -> None:
    report, _ = regotest.run_sync("package kommerce.policies.x\n\nviolation contains {", [])
    assert report.error
    assert "rego_parse_error" in report.error
    assert not report.ok
    assert "do not compile" in report.summary()


def test_parse_counts_errors_as_failures() -> None:
    out = json.dumps(
        [
            {"package": "data.p", "name": "test_a"},
            {"package": "data.p", "name": "test_b", "error": {"message": "division by zero"}},
            {"package": "data.p", "name": "test_c", "skip": True},
        ]
    )
    report = regotest.parse(2, out, "")
    assert (report.passed, report.failures) == (1, ("p.test_b",))
    assert report.details == {"p.test_b": "division by zero"}


# --- the starter library -----------------------------------------------------------------------


def _library(root: Path) -> Path:
    lib = root / "rego" / "team-label"
    lib.mkdir(parents=True)
    (lib / "policy.rego").write_text(MODULE.replace("if false", "if {\n\tfalse\n}"))
    (lib / "policy_test.rego").write_text(TESTS.replace("\ntest_fails", "\n# test_fails"))
    (lib / "policy.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kommerce.io/v1alpha1",
                "kind": "Policy",
                "metadata": {"name": "team-label"},
                "spec": {"enforcementAction": "warn"},
            }
        )
    )
    return root / "rego"


def test_library_renders_complete_policies(tmp_path: Path) -> None:
    root, out = _library(tmp_path), tmp_path / "out"
    assert policy_library.stale(root, out) == sorted(
        [out / "team-label.yaml", out / "kustomization.yaml"]
    )
    policy_library.write(root, out)
    assert policy_library.stale(root, out) == []
    text = (out / "team-label.yaml").read_text()
    assert text.startswith("# Generated by `kommerce policy generate`")
    assert "  rego: |\n    package kommerce.policies.team_label\n" in text  # readable, tabs kept
    doc = yaml.safe_load(text)
    assert doc["spec"]["enforcementAction"] == "warn"
    assert doc["spec"]["rego"] == (root / "team-label" / "policy.rego").read_text()
    assert doc["spec"]["tests"] == [(root / "team-label" / "policy_test.rego").read_text()]
    assert yaml.safe_load((out / "kustomization.yaml").read_text())["resources"] == [
        "team-label.yaml"
    ]
    (root / "team-label" / "policy.rego").write_text(MODULE + "# changed\n")
    assert policy_library.stale(root, out) == [out / "team-label.yaml"]


def test_library_rejects_inline_rego_in_policy_yaml(tmp_path: Path) -> None:
    root = _library(tmp_path)
    (root / "team-label" / "policy.yaml").write_text(
        "kind: Policy\nmetadata: {name: team-label}\nspec: {rego: x}\n"
    )
    with pytest.raises(policy_library.LibraryError, match=r"leave spec\.rego"):
        policy_library.rendered(root, tmp_path / "out")


def test_base_kustomization_gets_policies_once(tmp_path: Path) -> None:
    path = tmp_path / "kustomization.yaml"
    path.write_text("kind: Kustomization\nnamespace: kommerce\nresources:\n- a.yaml\n- b.yaml\n")
    updated = policy_library._base_kustomization(path)
    assert updated is not None
    assert yaml.safe_load(updated)["resources"] == ["a.yaml", "b.yaml", "policies"]
    path.write_text(updated)
    assert policy_library._base_kustomization(path) is None


def test_library_manifests_are_up_to_date() -> None:
    stale = policy_library.stale()
    assert stale == [], f"run `kommerce policy generate`: {stale}"


def test_watcher_indexes_the_annotated_version_until_deletion() -> None:
    policy = _active()
    item = {"metadata": {"name": policy.name, "annotations": {ACTIVE: policy.annotation()}}}
    assert watcher.indexed(item) == policy
    assert watcher.indexed({"metadata": {"name": "x"}}) is None
    deleting = {"metadata": {**item["metadata"], "deletionTimestamp": "2026-01-01T00:00:00Z"}}
    assert watcher.indexed(deleting) is None
