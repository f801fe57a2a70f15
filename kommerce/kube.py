"""Kubernetes client helpers shared by the CLI, services and operators.

One place decides how a client is built (which kubeconfig, which timeouts), so nothing waits
forever on an API server that went away.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client, config

DEFAULT_TIMEOUT = 10.0


def kubeconfig_from_env() -> Path | None:
    """`KOMMERCE_KUBECONFIG`, then `KUBECONFIG`; None means in-cluster config."""
    for name in ("KOMMERCE_KUBECONFIG", "KUBECONFIG"):
        value = os.environ.get(name)
        if value:
            return Path(value.split(os.pathsep)[0])
    return None


def api_client(kubeconfig: Path | None = None) -> client.ApiClient:
    """A synchronous ApiClient for `kubeconfig` (or the environment / in-cluster config)."""
    path = kubeconfig or kubeconfig_from_env()
    configuration = client.Configuration()
    if path is not None:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(path), client_configuration=configuration
        )
    else:
        config.load_incluster_config(  # type: ignore[no-untyped-call]
            client_configuration=configuration
        )
    configuration.retries = 2
    configuration.connection_pool_maxsize = 32  # operators call from many worker threads
    return client.ApiClient(configuration)


def node_ready(node: client.V1Node) -> bool:
    """True when the node's Ready condition is True."""
    conditions = node.status.conditions if node.status else None
    return any(c.type == "Ready" and c.status == "True" for c in conditions or [])


@dataclass(frozen=True)
class ClusterFacts:
    version: str
    platform: str
    nodes: int
    ready_nodes: int


def cluster_facts(api: client.ApiClient, *, timeout: float = DEFAULT_TIMEOUT) -> ClusterFacts:
    """The API server's version and how many nodes are registered and Ready."""
    version = client.VersionApi(api).get_code(_request_timeout=timeout)
    nodes = client.CoreV1Api(api).list_node(_request_timeout=timeout).items
    return ClusterFacts(
        version=version.git_version,
        platform=version.platform,
        nodes=len(nodes),
        ready_nodes=sum(node_ready(n) for n in nodes),
    )


def wait_for(check: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll `check` every 0.5 s; errors count as not yet (the cluster may still be settling)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: S110 (transient API errors while it settles)  # nosec B110
            pass
        time.sleep(0.5)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
