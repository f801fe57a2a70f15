"""platform-api reports the real control plane through the Kubernetes API."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from kommerce.http.errors import PROBLEM_JSON
from services.platform_api.app import create_app
from services.platform_api.settings import PlatformApiSettings

pytestmark = pytest.mark.cluster


def _client(kubeconfig: Path) -> httpx.AsyncClient:
    app = create_app(PlatformApiSettings(kubeconfig=str(kubeconfig)))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_cluster_endpoint_reports_version_and_nodes(kubeconfig: Path) -> None:
    async with _client(kubeconfig) as c:
        info = await c.get("/v1/cluster")
        ready = await c.get("/readyz")
    assert info.status_code == 200
    body = info.json()
    assert body["serverVersion"].startswith("v1.36.")
    assert body["nodes"] == 3
    assert body["readyNodes"] == 3
    assert ready.status_code == 200


async def test_unreachable_api_server_is_a_503_problem(kubeconfig: Path, tmp_path: Path) -> None:
    broken = tmp_path / "kubeconfig"
    text = kubeconfig.read_text()
    server = next(line for line in text.splitlines() if "server:" in line).split()[-1]
    broken.write_text(text.replace(server, "https://127.0.0.1:1"))
    async with _client(broken) as c:
        info = await c.get("/v1/cluster")
        ready = await c.get("/readyz")
    assert info.status_code == 503
    assert info.headers["content-type"] == PROBLEM_JSON
    assert "Kubernetes API unavailable" in info.json()["detail"]
    assert ready.status_code == 503
    assert ready.json()["checks"]["kubernetes"]["ok"] is False
