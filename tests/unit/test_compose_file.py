"""docker-compose.yml (for Docker users) stays valid and in step with the native stack."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from kommerce.stack import config
from kommerce.tools.catalog import tool_path
from tests.helpers import REPO

pytestmark = pytest.mark.unit


def test_compose_config_accepts_the_file() -> None:
    compose = tool_path("docker-compose")
    if not compose.exists():
        pytest.skip("docker-compose is not installed: run `kommerce tools install docker-compose`")
    result = subprocess.run(
        [str(compose), "-f", str(REPO / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_compose_publishes_the_native_stack_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KOMMERCE_PORT_OFFSET", raising=False)
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    published = {int(p.split(":")[1]) for svc in services.values() for p in svc.get("ports", [])}
    for name in (
        "postgres",
        "redis",
        "kafka",
        "rabbitmq",
        "openbao",
        "opa",
        "prometheus",
        "mlflow",
        "stripe-mock",
        "smtp",
        "s3",
    ):
        assert config.port(name) in published, name
