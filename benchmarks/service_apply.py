"""Benchmark: N `Service` resources to Ready through the operator vs the same children applied
directly through the API, in the same run on the same cluster. Prints the ratio and the
operator's reconcile p50/p99 (from its Prometheus histogram).

    .venv/bin/python -m benchmarks.service_apply --count 200

Runs its own cluster and operator in `$KOMMERCE_STATE/bench` (ports offset by 300) and stops
them afterwards. No database or topics: this measures the Kubernetes side of the operator.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from kubernetes import client

from kommerce.api.v1alpha1.service import ServiceSpec
from kommerce.kube import api_client
from kommerce.paths import state_dir
from operators.apply import Applier
from operators.service import children

SPEC = {
    "image": "ghcr.io/kommerce/bench",
    "version": "1.0.0",
    "replicas": 2,
    "callers": ["gateway"],
}


def _say(msg: str) -> None:
    print(msg, flush=True)


def _wait(check: Any, what: str, *, timeout: float) -> float:
    started = time.monotonic()
    last_report = started
    while True:
        done, total = check()
        now = time.monotonic()
        if done >= total:
            return now - started
        if now - last_report > 10:
            _say(f"  {what}: {done}/{total} after {now - started:.0f}s")
            last_report = now
        if now - started > timeout:
            raise SystemExit(f"timed out: {what} {done}/{total}")
        time.sleep(0.5)


def _namespace(api: client.ApiClient, name: str) -> None:
    core = client.CoreV1Api(api)
    try:
        core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})  # type: ignore[arg-type]
    except client.ApiException as exc:
        if exc.status != 409:
            raise


def _available(api: client.ApiClient, namespace: str, count: int) -> tuple[int, int]:
    items = client.AppsV1Api(api).list_namespaced_deployment(namespace).items
    ok = 0
    for d in items:
        for c in (d.status.conditions if d.status else None) or []:
            if c.type == "Available" and c.status == "True" and d.status.ready_replicas == 2:  # type: ignore[union-attr]
                ok += 1
    return ok, count


def direct(api: client.ApiClient, count: int) -> float:
    """Baseline: SSA the same children ourselves (8 threads) and wait for availability."""
    namespace = "bench-direct"
    _namespace(api, namespace)
    applier = Applier(api)
    spec = ServiceSpec.model_validate(SPEC)

    def one(i: int) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"svc-{i}", "namespace": namespace},
        }
        owner_cm = applier.apply_sync({**body, "data": {}})  # a real owner for the references
        owner = children.Owner(
            name=f"svc-{i}",
            namespace=namespace,
            body={
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"svc-{i}", "uid": owner_cm["metadata"]["uid"]},
            },
        )
        for manifest in children.children(owner, spec, secret_names=[]):
            if manifest["kind"] != "ConfigMap":
                applier.apply_sync(manifest)

    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(count)))
    _say(f"  direct: applied {count} x children in {time.monotonic() - started:.1f}s")
    _wait(lambda: _available(api, namespace, count), "direct Deployments available", timeout=1800)
    return time.monotonic() - started


def via_operator(api: client.ApiClient, count: int) -> float:
    namespace = "bench-operator"
    _namespace(api, namespace)
    custom = client.CustomObjectsApi(api)
    started = time.monotonic()

    def one(i: int) -> None:
        custom.create_namespaced_custom_object(
            "kommerce.io",
            "v1alpha1",
            namespace,
            "services",
            {
                "apiVersion": "kommerce.io/v1alpha1",
                "kind": "Service",
                "metadata": {"name": f"svc-{i}"},
                "spec": SPEC,
            },
        )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(count)))

    def ready() -> tuple[int, int]:
        items = custom.list_namespaced_custom_object(
            "kommerce.io", "v1alpha1", namespace, "services"
        )["items"]
        ok = sum(
            any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in i.get("status", {}).get("conditions", [])
            )
            for i in items
        )
        return ok, count

    _wait(ready, "Services Ready", timeout=3600)
    return time.monotonic() - started


def quantiles(metrics_text: str) -> tuple[float, float]:
    buckets = []
    for match in re.finditer(
        r'kommerce_operator_reconcile_duration_seconds_bucket\{kind="Service",'
        r'le="([^"]+)"\} (\S+)',
        metrics_text,
    ):
        le = float("inf") if match.group(1) == "+Inf" else float(match.group(1))
        buckets.append((le, float(match.group(2))))
    total = buckets[-1][1] if buckets else 0

    def q(p: float) -> float:
        for le, cumulative in buckets:
            if cumulative >= p * total:
                return le
        return float("nan")

    return q(0.5), q(0.99)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=200)
    args = parser.parse_args()
    os.environ["KOMMERCE_STATE"] = str(state_dir() / "bench")
    os.environ["KOMMERCE_PORT_OFFSET"] = "300"
    from kommerce.cli.operator import install_crds
    from kommerce.cluster import control_plane as cp
    from kommerce.cluster import manager
    from kommerce.runtime import orchestrate

    manager.up(say=_say)
    kubeconfig = cp.kubeconfig_path()
    install_crds(kubeconfig)
    log = Path(os.environ["KOMMERCE_STATE"]) / "operator.log"
    metrics_port = 18390
    with log.open("wb") as out:
        operator = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kommerce.cli",
                "operator",
                "run",
                "--no-peering",
                "--no-install-crds",
                "--metrics-port",
                str(metrics_port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        )
    try:
        with api_client(kubeconfig) as api:
            _say(f"baseline: {args.count} x children applied directly ...")
            t_direct = direct(api, args.count)
            _say(f"operator: {args.count} Service resources ...")
            t_operator = via_operator(api, args.count)
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        p50, p99 = quantiles(text)
        _say(f"direct children to available : {t_direct:8.1f} s")
        _say(f"Services to Ready via operator: {t_operator:8.1f} s")
        _say(f"ratio operator/direct          : {t_operator / t_direct:8.2f} (goal <= 2.0)")
        _say(f"reconcile p50 / p99 (bucket)   : <= {p50}s / <= {p99}s")
    finally:
        with api_client(kubeconfig) as api:  # while the operator runs: it holds finalizers
            core = client.CoreV1Api(api)
            for ns in ("bench-direct", "bench-operator"):
                core.delete_namespace(ns)

            def remaining() -> tuple[int, int]:
                names = [n.metadata.name for n in core.list_namespace().items if n.metadata]
                return int(not any(str(n).startswith("bench-") for n in names)), 1

            _wait(remaining, "benchmark namespaces deleted", timeout=600)
        operator.terminate()
        operator.wait(timeout=30)
        orchestrate.down(cp.components(), say=_say, what="bench cluster")


if __name__ == "__main__":
    main()
