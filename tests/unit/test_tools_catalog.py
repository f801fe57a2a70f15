from __future__ import annotations

from pathlib import Path

import pytest

from kommerce.tools.catalog import UnknownTool, load_catalog, tool_path

pytestmark = pytest.mark.unit


def test_every_required_tool_is_pinned() -> None:
    catalog = load_catalog()
    binaries = {Path(b).name for t in catalog.values() for b in t.binaries}
    for needed in (
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kubectl",
        "etcd",
        "kwok",
        "kwokctl",
        "helm",
        "opa",
        "stripe-mock",
        "bao",
        "postgres",
        "redis-server",
        "rabbitmq-server",
        "prometheus",
        "promtool",
    ):
        assert needed in binaries
    assert "kafka" in catalog
    for tool in catalog.values():
        assert tool.version, tool.name


def test_tools_are_keyed_by_version(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KOMMERCE_TOOLS", str(tmp_path))
    opa = load_catalog()["opa"]
    assert opa.home == tmp_path / "opa" / opa.version
    assert tool_path("opa") == tmp_path / "opa" / opa.version / "bin" / "opa"
    assert not opa.installed()


def test_unknown_tool_lists_known_ones() -> None:
    with pytest.raises(UnknownTool, match="kube-apiserver"):
        tool_path("kube-nothing")
