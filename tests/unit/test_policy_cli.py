"""`kommerce policy test` and `generate --check` as a user runs them (opa as a child process)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.helpers import kommerce

pytestmark = pytest.mark.unit

MODULE = """package kommerce.policies.team_label

violation contains {"msg": "no team"} if not input.review.object.metadata.labels.team
"""

TESTS = """package kommerce.policies.team_label_test

import data.kommerce.policies.team_label

test_unlabelled_is_a_violation if {
	count(team_label.violation) == 1 with input as {"review": {"object": {"metadata": {}}}}
}

labelled := {"review": {"object": {"metadata": {"labels": {"team": "a"}}}}}

test_labelled_passes if {
	count(team_label.violation) == %d with input as labelled
}
"""


def _policy(tmp_path: Path, *, broken: bool, name: str = "team-label") -> Path:
    path = tmp_path / f"{name}.yaml"
    body = {
        "apiVersion": "kommerce.io/v1alpha1",
        "kind": "Policy",
        "metadata": {"name": name},
        "spec": {"rego": MODULE, "tests": [TESTS % (1 if broken else 0)]},
    }
    path.write_text(yaml.safe_dump(body))
    return path


def test_a_passing_policy_resource(tmp_path: Path) -> None:
    result = kommerce("policy", "test", str(_policy(tmp_path, broken=False)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS team-label" in result.stdout
    assert "2 tests passed" in result.stdout


def test_a_failing_policy_resource_names_the_test(tmp_path: Path) -> None:
    result = kommerce("policy", "test", str(tmp_path / "x.yaml"))
    assert result.returncode != 0  # no such path
    _policy(tmp_path, broken=True)
    result = kommerce("policy", "test", str(tmp_path))
    assert result.returncode == 1
    assert "FAIL team-label" in result.stdout
    assert "kommerce.policies.team_label_test.test_labelled_passes" in result.stdout
    assert "FAILURES" in result.stdout  # opa's verbose failure trace
    assert "would not be activated" in result.stderr


def test_the_package_must_follow_the_name(tmp_path: Path) -> None:
    result = kommerce("policy", "test", str(_policy(tmp_path, broken=False, name="other")))
    assert result.returncode == 1
    assert "expected kommerce.policies.other" in result.stdout


def test_a_directory_of_rego(tmp_path: Path) -> None:
    (tmp_path / "policy.rego").write_text(MODULE)
    (tmp_path / "policy_test.rego").write_text(TESTS % 0)
    ok = kommerce("policy", "test", str(tmp_path))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "PASS: 2/2" in ok.stdout
    (tmp_path / "policy_test.rego").write_text(TESTS % 1)
    failed = kommerce("policy", "test", str(tmp_path))
    assert failed.returncode == 1
    assert "test_labelled_passes: FAIL" in failed.stdout


def test_generate_check_passes_on_the_repository() -> None:
    result = kommerce("policy", "generate", "--check")
    assert result.returncode == 0, result.stderr
