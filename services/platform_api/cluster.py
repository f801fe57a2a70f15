"""Reading the control plane: the domain of platform-api so far.

The official client is synchronous; calls run in a worker thread with a request timeout, so a
slow API server delays one request and never blocks the event loop.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from kubernetes import client
from kubernetes.config import ConfigException
from urllib3.exceptions import HTTPError

from kommerce.http.errors import DependencyUnavailable
from kommerce.kube import api_client, cluster_facts
from services.platform_api.models import ClusterInfo


class ClusterReader:
    """Reads the control plane; the client is made on first use, so the service starts (and
    reports not-ready) even while no cluster is configured."""

    def __init__(self, *, kubeconfig: Path | None, timeout: float) -> None:
        self._kubeconfig = kubeconfig
        self._api: client.ApiClient | None = None
        self._timeout = timeout

    def _client(self) -> client.ApiClient:
        if self._api is None:
            try:
                self._api = api_client(self._kubeconfig)
            except ConfigException as exc:
                raise DependencyUnavailable(f"no Kubernetes configuration: {exc}") from exc
        return self._api

    def _read(self) -> ClusterInfo:
        facts = cluster_facts(self._client(), timeout=self._timeout)
        return ClusterInfo(
            server_version=facts.version,
            platform=facts.platform,
            nodes=facts.nodes,
            ready_nodes=facts.ready_nodes,
        )

    async def info(self) -> ClusterInfo:
        try:
            return await asyncio.to_thread(self._read)
        except (HTTPError, client.ApiException, OSError) as exc:
            raise DependencyUnavailable(f"Kubernetes API unavailable: {exc}") from exc

    async def ping(self) -> None:
        api = self._client()
        await asyncio.to_thread(client.VersionApi(api).get_code, _request_timeout=self._timeout)

    def close(self) -> None:
        if self._api is not None:
            self._api.close()  # type: ignore[no-untyped-call]
