"""`cluster up|down|status`: the control plane processes plus the kwok nodes, ready to use."""

from __future__ import annotations

import time
from collections.abc import Callable

from kubernetes import client
from kubernetes.client import ApiException

from kommerce.cluster import control_plane as cp
from kommerce.kube import (
    DEFAULT_TIMEOUT,
    ClusterFacts,
    api_client,
    cluster_facts,
    node_ready,
    wait_for,
)
from kommerce.runtime import orchestrate, procs

Say = Callable[[str], None]


def _all_running() -> bool:
    return all(procs.running(c.pidfile) and c.healthy() for c in cp.components())


def up(*, say: Say = print) -> bool:
    """Start the cluster. Returns False when it was already running (a no-op)."""
    if _all_running():
        info = info_or_none()
        nodes = f", {info.ready_nodes}/{info.nodes} nodes Ready" if info else ""
        say(f"cluster already running (kubeconfig {cp.kubeconfig_path()}{nodes}); nothing to do")
        return False
    t0 = time.monotonic()
    cp.cluster_root().mkdir(parents=True, exist_ok=True)
    started = orchestrate.up(cp.components(), say=say, what="control plane")
    try:
        ensure_nodes(count=cp.node_count(), say=say)
        _wait_default_service_account(say)
    except Exception:
        say("cluster up failed after the control plane started; stopping what this call started")
        orchestrate.down([c for c in cp.components() if c.name in started], say=say, what="cluster")
        raise
    say(f"cluster up: ready in {time.monotonic() - t0:.1f}s; kubeconfig {cp.kubeconfig_path()}")
    return True


def ensure_nodes(*, count: int, say: Say = print) -> None:
    with api_client(cp.kubeconfig_path()) as api:
        core = client.CoreV1Api(api)
        for i in range(count):
            name = f"kwok-node-{i}"
            try:
                core.create_node(cp.node_manifest(name), _request_timeout=DEFAULT_TIMEOUT)  # type: ignore[arg-type]
                say(f"  node {name} created")
            except ApiException as exc:
                if exc.status != 409:
                    raise

        def all_ready() -> bool:
            nodes = core.list_node(
                label_selector="type=kwok", _request_timeout=DEFAULT_TIMEOUT
            ).items
            return sum(node_ready(n) for n in nodes) >= count

        wait_for(all_ready, timeout=90, what=f"{count} kwok nodes to become Ready")
        say(f"  {count} node(s) Ready")


def _wait_default_service_account(say: Say) -> None:
    """Pods are refused until the controller-manager has made the namespace's service account."""
    with api_client(cp.kubeconfig_path()) as api:
        core = client.CoreV1Api(api)
        wait_for(
            lambda: bool(
                core.read_namespaced_service_account(
                    "default", "default", _request_timeout=DEFAULT_TIMEOUT
                )
            ),
            timeout=60,
            what="the default service account",
        )


def down(*, say: Say = print) -> int:
    return orchestrate.down(cp.components(), say=say, what="cluster")


def info_or_none() -> ClusterFacts | None:
    try:
        return info()
    except Exception:
        return None


def info() -> ClusterFacts:
    with api_client(cp.kubeconfig_path()) as api:
        return cluster_facts(api)
