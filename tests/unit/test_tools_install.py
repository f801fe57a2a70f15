from __future__ import annotations

from pathlib import Path

import pytest

from kommerce.tools.catalog import Tool
from kommerce.tools.install import InstallError, install_tool

pytestmark = pytest.mark.unit


def _broken_go_tool() -> Tool:
    return Tool(
        name="nothing",
        kind="go",
        version="v0.0.1",
        binaries=("nothing",),
        module="example.invalid/nothing",
        packages=(".",),
    )


def test_failing_step_is_named_with_its_log(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KOMMERCE_TOOLS", str(tmp_path))
    monkeypatch.setenv("GOPROXY", "off")  # fail fast and offline
    messages: list[str] = []
    tool = _broken_go_tool()
    with pytest.raises(InstallError) as err:
        install_tool(tool, say=messages.append)
    text = str(err.value)
    assert "step 'go mod tidy' failed" in text
    assert str(tmp_path / "_logs" / "nothing-v0.0.1.log") in text
    assert "GOPROXY=off" in text  # the log's last lines are quoted
    # Nothing half-installed is left behind to be mistaken for a tool.
    assert not tool.installed()
    assert not tool.home.exists()
    assert [p.name for p in (tmp_path / "nothing").iterdir()] == []
    assert any("go mod tidy ..." in m for m in messages)


def test_missing_toolchain_says_what_to_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KOMMERCE_TOOLS", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(InstallError, match="kommerce doctor"):
        install_tool(_broken_go_tool(), say=lambda _m: None)


def test_installed_tool_is_not_rebuilt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KOMMERCE_TOOLS", str(tmp_path))
    tool = _broken_go_tool()
    tool.home.mkdir(parents=True)
    tool.marker.write_text("{}")
    messages: list[str] = []
    assert install_tool(tool, say=messages.append) is False
    assert messages == ["  nothing v0.0.1: already installed"]
