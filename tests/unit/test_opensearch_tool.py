"""The `opensearch` tool and stack component: how the node is built and started."""

from __future__ import annotations

from pathlib import Path

import pytest

from kommerce.stack import config
from kommerce.stack.servers import servers
from kommerce.tools.catalog import load_catalog

pytestmark = pytest.mark.unit


def test_the_tool_is_maven_jars_plus_our_launcher() -> None:
    tool = load_catalog()["opensearch"]
    assert tool.kind == "maven"
    assert tool.artifact == "org.opensearch:opensearch"
    assert tool.version.split("-")[0] == "2.19.6"
    assert any(e.startswith("org.opensearch.plugin:analysis-common:") for e in tool.extra)
    source = Path(__file__).resolve().parents[2] / "kommerce" / "tools" / tool.launcher
    assert "class Launcher" in source.read_text()


def test_the_stack_runs_it_on_loopback_with_a_bounded_heap(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KOMMERCE_STATE", str(tmp_path))
    monkeypatch.setenv("KOMMERCE_PORT_OFFSET", "7")
    (node,) = [s for s in servers() if s.name == "opensearch"]
    assert node.ports == (19211 + 7, 19261 + 7)
    node.prepare_fn(node)  # type: ignore[misc]
    settings = (node.root / "opensearch.yml").read_text()
    assert 'network.host: "127.0.0.1"' in settings
    assert f'http.port: "{node.port}"' in settings
    assert f'path.data: "{node.root / "data"}"' in settings
    argv = node.argv_fn(node)
    assert "-Xmx512m" in argv
    assert argv[-2:] == ["kommerce.opensearch.Launcher", str(node.root / "opensearch.yml")]
    assert config.environment()["KOMMERCE_OPENSEARCH_URL"] == f"http://127.0.0.1:{node.port}"
