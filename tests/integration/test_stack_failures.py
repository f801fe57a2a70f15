"""What a user sees when the stack cannot start: a clear message, exit 1, nothing left running.

Each test uses its own state directory and port range, so it never disturbs the session's stack.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import kommerce

pytestmark = pytest.mark.integration

REDIS_BASE_PORT = 16379


@pytest.fixture
def own_stack(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    offset = 300 + 10 * (abs(hash(request.node.name)) % 40)
    env = {"KOMMERCE_STATE": str(tmp_path / "state"), "KOMMERCE_PORT_OFFSET": str(offset)}
    yield env
    kommerce("stack", "down", env=env)


def _running(env: dict[str, str]) -> list[str]:
    status = kommerce("stack", "status", env=env).stdout
    return [line.split()[0] for line in status.splitlines()[1:] if "healthy" in line.split()]


def test_port_in_use_names_the_port(own_stack: dict[str, str]) -> None:
    port = REDIS_BASE_PORT + int(own_stack["KOMMERCE_PORT_OFFSET"])
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        result = kommerce("stack", "up", "redis", env=own_stack)
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "KOMMERCE_PORT_OFFSET" in result.stderr


def test_missing_tool_says_how_to_install(own_stack: dict[str, str], tmp_path: Path) -> None:
    env = {**own_stack, "KOMMERCE_TOOLS": str(tmp_path / "empty-tools")}
    result = kommerce("stack", "up", "opa", env=env)
    assert result.returncode == 1
    assert "executable not found" in result.stderr
    assert "kommerce tools install" in result.stderr
    missing = kommerce("tools", "path", "opa", env=env)
    assert missing.returncode == 1
    assert "not installed" in missing.stderr


def test_crash_at_start_rolls_back_what_started(own_stack: dict[str, str]) -> None:
    # A data directory from an incompatible PostgreSQL: the server refuses to start.
    data = Path(own_stack["KOMMERCE_STATE"]) / "stack" / "postgres" / "data"
    data.mkdir(parents=True)
    (data / "PG_VERSION").write_text("99\n")
    if os.geteuid() == 0:
        import shutil

        shutil.chown(data.parent, "postgres", "postgres")
        shutil.chown(data, "postgres", "postgres")
    result = kommerce("stack", "up", "redis", "postgres", env=own_stack)
    assert result.returncode == 1
    assert "postgres exited with code" in result.stderr
    assert "postgres.log" in result.stderr
    assert "stopped redis" in result.stdout  # the half-started stack was rolled back
    assert _running(own_stack) == []


def test_down_twice_is_harmless(own_stack: dict[str, str]) -> None:
    up = kommerce("stack", "up", "redis", env=own_stack)
    assert up.returncode == 0, up.stderr
    assert _running(own_stack) == ["redis"]
    first = kommerce("stack", "down", env=own_stack)
    second = kommerce("stack", "down", env=own_stack)
    assert first.returncode == 0
    assert "stopped redis" in first.stdout
    assert second.returncode == 0
    assert "nothing was running" in second.stdout
    assert _running(own_stack) == []


def test_up_twice_reports_already_running(own_stack: dict[str, str]) -> None:
    assert kommerce("stack", "up", "redis", env=own_stack).returncode == 0
    again = kommerce("stack", "up", "redis", env=own_stack)
    assert again.returncode == 0
    assert "already running" in again.stdout


def test_stack_env_exports_every_connection_setting(own_stack: dict[str, str]) -> None:
    out = kommerce("stack", "env", env=own_stack).stdout
    names = {line.split("=", 1)[0].removeprefix("export ") for line in out.splitlines()}
    for required in (
        "KOMMERCE_DATABASE_URL",
        "KOMMERCE_REDIS_URL",
        "KOMMERCE_KAFKA_BOOTSTRAP",
        "KOMMERCE_AMQP_URL",
        "KOMMERCE_VAULT_ADDR",
        "KOMMERCE_VAULT_TOKEN",
        "KOMMERCE_OPA_URL",
        "KOMMERCE_PROMETHEUS_URL",
        "KOMMERCE_MLFLOW_URL",
        "KOMMERCE_STRIPE_API_BASE",
        "KOMMERCE_SMTP_HOST",
        "KOMMERCE_SMTP_PORT",
        "KOMMERCE_S3_ENDPOINT",
    ):
        assert required in names
    offset = int(own_stack["KOMMERCE_PORT_OFFSET"])
    assert f"127.0.0.1:{REDIS_BASE_PORT + offset}" in out
