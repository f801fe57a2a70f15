"""The CLI's own contracts: tools status/path, doctor, service list/run errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import kommerce

pytestmark = pytest.mark.integration


def test_tools_install_twice_does_nothing_the_second_time() -> None:
    result = kommerce("tools", "install", "opa", "redis")
    assert result.returncode == 0, result.stderr
    assert "opa v1.22.3: already installed" in result.stdout
    assert "nothing to do" in result.stdout


def test_tools_path_prints_an_executable() -> None:
    result = kommerce("tools", "path", "kube-apiserver")
    assert result.returncode == 0
    path = Path(result.stdout.strip())
    assert path.is_file()
    assert path.stat().st_mode & 0o111
    assert kommerce("tools", "path", "nonsense").returncode == 2


def test_tools_status_lists_every_tool() -> None:
    result = kommerce("tools", "status")
    assert result.returncode == 0, result.stdout
    for name in ("kubernetes", "etcd", "kwok", "opa", "helm", "stripe-mock", "kafka", "openbao"):
        assert name in result.stdout


def test_doctor_names_missing_tools_and_the_fix(tmp_path: Path) -> None:
    result = kommerce(
        "doctor",
        env={
            "KOMMERCE_TOOLS": str(tmp_path / "empty"),
            "KOMMERCE_STATE": str(tmp_path / "state"),
            "KOMMERCE_PORT_OFFSET": "700",
        },
    )
    assert result.returncode == 1
    assert "[FAIL] tool opa" in result.stdout
    assert "fix: kommerce tools install opa" in result.stdout
    assert "[ok  ] python" in result.stdout


def test_doctor_passes_on_this_machine(tmp_path: Path) -> None:
    result = kommerce(
        "doctor", env={"KOMMERCE_STATE": str(tmp_path / "state"), "KOMMERCE_PORT_OFFSET": "700"}
    )
    assert result.returncode == 0, result.stdout
    assert "everything needed is here" in result.stdout


def test_unknown_service_lists_known_ones() -> None:
    result = kommerce("service", "run", "nope")
    assert result.returncode == 2
    assert "platform-api" in result.stderr


def test_invalid_service_settings_are_reported() -> None:
    result = kommerce(
        "service", "run", "platform-api", env={"KOMMERCE_PLATFORM_API_KUBE_TIMEOUT_SECONDS": "-1"}
    )
    assert result.returncode == 2
    assert "kube_timeout_seconds" in result.stderr
