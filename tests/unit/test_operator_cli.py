from __future__ import annotations

from pathlib import Path

import pytest

from kommerce.cli.operator import supervised

pytestmark = pytest.mark.unit


def test_background_operator_gets_the_stack_connections(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`make run` starts the operator detached: it must reach the stack's PostgreSQL and Kafka."""
    monkeypatch.setenv("KOMMERCE_STATE", str(tmp_path))
    monkeypatch.setenv("KOMMERCE_PORT_OFFSET", "7")
    component = supervised()
    env = component.env_fn(component)
    assert env["KOMMERCE_DATABASE_URL"].startswith("postgresql://kommerce:")
    assert env["KOMMERCE_KAFKA_BOOTSTRAP"] == "127.0.0.1:19099"
    assert env["KUBECONFIG"].endswith("kubeconfig")
    assert component.ports == (18097, 18450)
    assert "--admission" in component.argv_fn(component)
