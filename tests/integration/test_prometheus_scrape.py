"""Prometheus scrapes a real service's /metrics once the service is registered as a target."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import free_port, running_service

pytestmark = pytest.mark.integration


def test_prometheus_scrapes_platform_api(stack_env: dict[str, str], tmp_path: Path) -> None:
    prometheus = stack_env["KOMMERCE_PROMETHEUS_URL"]
    assert httpx.get(f"{prometheus}/-/ready", timeout=5).status_code == 200
    port = free_port()
    target = Path(stack_env["KOMMERCE_PROMETHEUS_TARGETS_DIR"]) / f"platform-api-{port}.json"
    with running_service("platform-api", port=port, log=tmp_path / "svc.log") as proc:
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        target.write_text(
            json.dumps([{"targets": [f"127.0.0.1:{port}"], "labels": {"service": "platform-api"}}])
        )
        try:
            query = f'up{{job="kommerce",instance="127.0.0.1:{port}"}}'
            requests = f'http_requests_total{{instance="127.0.0.1:{port}",route="/healthz"}}'
            deadline = time.monotonic() + 60
            up: list[dict[str, object]] = []
            series: list[dict[str, object]] = []
            while time.monotonic() < deadline:
                up = httpx.get(
                    f"{prometheus}/api/v1/query", params={"query": query}, timeout=5
                ).json()["data"]["result"]
                series = httpx.get(
                    f"{prometheus}/api/v1/query", params={"query": requests}, timeout=5
                ).json()["data"]["result"]
                if up and up[0]["value"][1] == "1" and series:  # type: ignore[index]
                    break
                time.sleep(1)
            assert up, "Prometheus never listed the platform-api target"
            assert up[0]["value"][1] == "1", up  # type: ignore[index]
            assert series, "the scraped metrics do not include the service's request counter"
        finally:
            target.unlink(missing_ok=True)
        proc.terminate()
        # uvicorn drains, runs the lifespan shutdown, then re-raises SIGTERM (exit -15).
        assert proc.wait(timeout=30) in (0, -15)
    log = (tmp_path / "svc.log").read_text()
    assert '"message": "service stopped"' in log, log[-2000:]
