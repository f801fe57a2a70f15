"""Generated SLO rules pass `promtool check rules` and fire (and stay quiet) as intended."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from kommerce.api.v1alpha1.service import ServiceSpec
from kommerce.tools.catalog import tool_path
from operators.service import monitoring
from operators.service.children import Owner

pytestmark = pytest.mark.unit


def _spec(**monitoring_spec: Any) -> ServiceSpec:
    return ServiceSpec.model_validate({"image": "x", "version": "1", "monitoring": monitoring_spec})


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = tool_path("promtool")
    if not promtool.exists():
        pytest.skip("promtool not installed: kommerce tools install prometheus")
    return subprocess.run(
        [str(promtool), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_no_objectives_no_rules() -> None:
    assert monitoring.rule_groups("order", _spec()) == []
    owner = Owner(
        name="order",
        namespace="shop",
        body={
            "apiVersion": "kommerce.io/v1alpha1",
            "kind": "Service",
            "metadata": {"name": "order", "uid": "u"},
        },
    )
    assert monitoring.prometheus_rule(owner, _spec()) is None


def test_latency_threshold_rounds_up_to_a_bucket() -> None:
    assert monitoring.latency_bucket(300) == 0.5
    assert monitoring.latency_bucket(100) == 0.1
    assert monitoring.latency_bucket(999_999) == 10.0


def test_promtool_accepts_generated_rules(tmp_path: Path) -> None:
    groups = monitoring.rule_groups(
        "order",
        _spec(availability={"objective": 99.9}, latency={"thresholdMs": 300, "objective": 99}),
    )
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": groups}))
    result = _promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_burn_rate_alert_fires_on_errors_and_not_on_health(tmp_path: Path) -> None:
    groups = monitoring.rule_groups("order", _spec(availability={"objective": 99.0}))
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({"groups": groups}))
    # 100 requests/min; 'broken' fails 20% of them, 'healthy' 0.1% (well inside a 1% budget).
    series = [
        {"series": 'http_requests_total{service="order",status="200"}', "values": "0+80x120"},
        {"series": 'http_requests_total{service="order",status="500"}', "values": "0+20x120"},
    ]
    healthy = [
        {"series": 'http_requests_total{service="order",status="200"}', "values": "0+999x120"},
        {"series": 'http_requests_total{service="order",status="500"}', "values": "0+1x120"},
    ]

    def case(input_series: list[dict[str, str]], expected: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "interval": "1m",
            "input_series": input_series,
            "alert_rule_test": [
                {
                    "eval_time": "90m",
                    "alertname": "KommerceSLOErrorsBudgetBurn",
                    "exp_alerts": expected,
                }
            ],
        }

    # 20% errors for 90 minutes is over every window's threshold (14.4%, 6%, 1%): all fire.
    alerts = {rule["labels"]["window"]: rule for rule in groups[1]["rules"]}
    fired = [
        {
            "exp_labels": {"severity": sev, "service": "order", "window": w},
            "exp_annotations": alerts[w]["annotations"],
        }
        for sev, w in (("page", "1h"), ("page", "6h"), ("ticket", "3d"))
    ]
    tests = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [case(series, fired), case(healthy, [])],
    }
    (tmp_path / "test.yml").write_text(yaml.safe_dump(tests))
    result = _promtool("test", "rules", str(tmp_path / "test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
