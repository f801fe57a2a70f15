"""Benchmark: admission decision latency through the operator's policy webhook vs querying OPA
directly for the same policy and input, in the same run (requests interleaved, so both see the
same machine load). Prints p50/p99 of both and their ratio (goal: ratio <= 1.5, p99 < 20 ms).

    .venv/bin/python -m benchmarks.admission_latency --requests 1000

Runs its own OPA, cluster and operator (with --admission) in `$KOMMERCE_STATE/bench-admission`
(ports offset by 500) and stops what it started afterwards. The policy is the starter
library's `required-labels`; the request is a kommerce.io Service CREATE that satisfies it.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from kubernetes import client

from kommerce.kube import api_client
from kommerce.paths import state_dir

POLICY = "required-labels"
WEBHOOK_PORT_BASE = 19443
METRICS_PORT_BASE = 18090


def _say(msg: str) -> None:
    print(msg, flush=True)


def _review() -> dict[str, Any]:
    obj = {
        "apiVersion": "kommerce.io/v1alpha1",
        "kind": "Service",
        "metadata": {
            "name": "order",
            "namespace": "shop",
            "labels": {"team": "checkout", "tier": "tier-1", "data-classification": "pii"},
        },
        "spec": {
            "image": "ghcr.io/kommerce/order",
            "version": "1.4.2",
            "replicas": 3,
            "ports": [{"name": "http", "port": 8080}],
            "dependencies": {"database": {}, "topics": [{"name": "orders.v1"}], "transit": True},
            "callers": ["payment", "notification", "analytics"],
        },
    }
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": {"group": "kommerce.io", "version": "v1alpha1", "kind": "Service"},
            "resource": {"group": "kommerce.io", "version": "v1alpha1", "resource": "services"},
            "requestKind": {"group": "kommerce.io", "version": "v1alpha1", "kind": "Service"},
            "name": "order",
            "namespace": "shop",
            "operation": "CREATE",
            "userInfo": {"username": "kubernetes-admin", "groups": ["system:masters"]},
            "object": obj,
            "oldObject": None,
            "dryRun": False,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
        },
    }


def _quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _wait(check: Any, what: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = check()
            if found:
                return found
        except Exception:  # noqa: S110 - not yet  # nosec B110
            pass
        time.sleep(0.5)
    raise SystemExit(f"timed out waiting for {what}")


def _server_mean(metrics_port: int) -> float:
    """Mean time the webhook spent per request (receipt to answer), from its histogram."""
    text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
    values = {}
    for line in text.splitlines():
        for key in ("_sum", "_count"):
            prefix = f'kommerce_policy_admission_duration_seconds{key}{{webhook="kommerce"}} '
            if line.startswith(prefix):
                values[key] = float(line.removeprefix(prefix))
    return values.get("_sum", 0.0) / max(values.get("_count", 1.0), 1.0)


def measure(
    webhook_url: str, ca_pem: bytes, opa_url: str, package: str, parameters: Any, count: int
) -> tuple[list[float], list[float]]:
    review = _review()
    direct_body = json.dumps(
        {"input": {"review": review["request"], "parameters": parameters}}
    ).encode()
    webhook_body = json.dumps(review).encode()
    query = f"{opa_url}/v1/data/{package.replace('.', '/')}/violation"
    with tempfile.NamedTemporaryFile(suffix=".crt") as ca:
        ca.write(ca_pem)
        ca.flush()
        context = ssl.create_default_context(cafile=ca.name)
    headers = {"Content-Type": "application/json"}
    via, direct = [], []
    with (
        httpx.Client(verify=context, headers=headers, timeout=5) as hook,
        httpx.Client(headers=headers, timeout=5) as opa,
    ):
        first = hook.post(webhook_url, content=webhook_body).json()["response"]
        if not first["allowed"]:
            raise SystemExit(f"unexpected denial: {first}")
        if opa.post(query, content=direct_body).json().get("result") != []:
            raise SystemExit("the direct query did not evaluate the policy")
        for _ in range(50):  # warm-up: connections, OPA's caches
            hook.post(webhook_url, content=webhook_body)
            opa.post(query, content=direct_body)
        for _ in range(count):
            started = time.perf_counter()
            resp = hook.post(webhook_url, content=webhook_body)
            via.append(time.perf_counter() - started)
            resp.raise_for_status()
            started = time.perf_counter()
            resp = opa.post(query, content=direct_body)
            direct.append(time.perf_counter() - started)
            resp.raise_for_status()
    return via, direct


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--port-offset", type=int, default=500)
    args = parser.parse_args()
    os.environ["KOMMERCE_STATE"] = str(state_dir() / "bench-admission")
    os.environ["KOMMERCE_PORT_OFFSET"] = str(args.port_offset)
    from kommerce.api import policy_library
    from kommerce.cli.operator import install_crds
    from kommerce.cluster import control_plane as cp
    from kommerce.cluster import manager
    from kommerce.runtime import orchestrate
    from kommerce.stack import config
    from kommerce.stack.servers import servers

    opa_server = [s for s in servers() if s.name == "opa"]
    started_opa = orchestrate.up(opa_server, say=_say, what="bench OPA")
    opa_url = config.environment()["KOMMERCE_OPA_URL"]
    started_cluster = manager.up(say=_say)
    kubeconfig = cp.kubeconfig_path()
    install_crds(kubeconfig)
    port = WEBHOOK_PORT_BASE + args.port_offset
    log = Path(os.environ["KOMMERCE_STATE"]) / "operator.log"
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
                str(METRICS_PORT_BASE + args.port_offset),
                "--admission",
                "--webhook-port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "KUBECONFIG": str(kubeconfig), "KOMMERCE_OPA_URL": opa_url},
        )
    body = policy_library.resource(policy_library.LIBRARY_DIR / POLICY)
    try:
        with api_client(kubeconfig) as api:
            custom = client.CustomObjectsApi(api)
            try:
                custom.create_cluster_custom_object("kommerce.io", "v1alpha1", "policies", body)
            except client.ApiException as exc:  # left over from an interrupted run
                if exc.status != 409:
                    raise
                custom.patch_cluster_custom_object(
                    "kommerce.io", "v1alpha1", "policies", POLICY, {"spec": body["spec"]}
                )

            def ready() -> bool:
                got = custom.get_cluster_custom_object(
                    "kommerce.io", "v1alpha1", "policies", POLICY
                )
                return any(
                    c["type"] == "Ready" and c["status"] == "True"
                    for c in got.get("status", {}).get("conditions", [])  # type: ignore[union-attr]
                )

            _wait(ready, f"Policy {POLICY} Ready", timeout=180)
            vwc = client.AdmissionregistrationV1Api(api).read_validating_webhook_configuration(
                "kommerce-policy"
            )
            ca_pem = base64.b64decode(vwc.webhooks[0].client_config.ca_bundle)  # type: ignore[index]
            _say(f"measuring {args.requests} requests each (interleaved) ...")
            via, direct = measure(
                f"https://127.0.0.1:{port}/validate/kommerce",
                ca_pem,
                opa_url,
                f"kommerce.policies.{POLICY.replace('-', '_')}",
                body["spec"].get("parameters", {}),
                args.requests,
            )
            custom.delete_cluster_custom_object("kommerce.io", "v1alpha1", "policies", POLICY)
        server_mean = _server_mean(METRICS_PORT_BASE + args.port_offset)
        ms = 1000.0
        w50, w99 = _quantile(via, 0.5) * ms, _quantile(via, 0.99) * ms
        d50, d99 = _quantile(direct, 0.5) * ms, _quantile(direct, 0.99) * ms
        _say(f"webhook (AdmissionReview over HTTPS): p50 {w50:6.2f} ms  p99 {w99:6.2f} ms")
        _say(f"OPA directly (same policy, input)   : p50 {d50:6.2f} ms  p99 {d99:6.2f} ms")
        _say(
            f"mean webhook / direct               : {statistics.mean(via) * ms:6.2f} / "
            f"{statistics.mean(direct) * ms:6.2f} ms"
        )
        _say(f"inside the webhook (its histogram)  : mean {server_mean * ms:6.2f} ms")
        _say(
            f"ratio p50 {w50 / d50:4.2f}, p99 {w99 / d99:4.2f} (goal <= 1.5); "
            f"webhook p99 {'<' if w99 < 20 else '>='} 20 ms"
        )
    finally:
        operator.terminate()  # SIGTERM: the operator removes its webhook configuration
        try:
            operator.wait(timeout=30)
        except subprocess.TimeoutExpired:
            operator.kill()
        if started_cluster:
            orchestrate.down(cp.components(), say=_say, what="bench cluster")
        orchestrate.down(
            [s for s in opa_server if s.name in started_opa], say=_say, what="bench OPA"
        )


if __name__ == "__main__":
    main()
