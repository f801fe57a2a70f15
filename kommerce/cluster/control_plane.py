"""The local control plane as supervised processes, and the kwok nodes it schedules onto.

kind and minikube need a container engine, which these machines do not have. A real control
plane does not: etcd, kube-apiserver, kube-controller-manager and kube-scheduler run as plain
processes, and kwok plays the kubelets (it marks nodes Ready and drives pods through their
lifecycle without running containers). Garbage collection, namespace deletion, Deployments and
CRDs are therefore the real upstream controllers', not simulations.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kommerce.cluster.pki import Pki, kubeconfig
from kommerce.paths import state_dir
from kommerce.runtime.component import Component
from kommerce.runtime.probes import http_ok
from kommerce.stack.config import port_offset
from kommerce.tools.catalog import tool_path

BASE_PORTS = {
    "etcd": 12379,
    "etcd-peer": 12380,
    "apiserver": 16443,
    "controller-manager": 16257,
    "scheduler": 16259,
    "kwok": 16247,
}

CLIENTS: dict[str, tuple[str, str | None]] = {
    "admin": ("kommerce-admin", "system:masters"),
    "controller-manager": ("system:kube-controller-manager", None),
    "scheduler": ("system:kube-scheduler", None),
    "kwok": ("kwok-controller", "system:masters"),
}

KWOK_ANNOTATION = "kwok.x-k8s.io/node"


def cport(name: str) -> int:
    return BASE_PORTS[name] + port_offset()


def cluster_root() -> Path:
    return state_dir() / "cluster"


def node_count() -> int:
    raw = os.environ.get("KOMMERCE_CLUSTER_NODES", "3")
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"KOMMERCE_CLUSTER_NODES must be a positive integer, got {raw!r}")
    return int(raw)


def pki() -> Pki:
    return Pki(cluster_root() / "pki")


def apiserver_url() -> str:
    return f"https://127.0.0.1:{cport('apiserver')}"


def kubeconfig_path(client: str = "admin") -> Path:
    return cluster_root() / ("kubeconfig" if client == "admin" else f"{client}.kubeconfig")


def write_credentials() -> None:
    p = pki()
    p.ensure(clients=CLIENTS)
    for client in CLIENTS:
        kubeconfig_path(client).write_text(kubeconfig(server=apiserver_url(), pki=p, client=client))


def _tls_context(*, client: str | None = "admin", verify: bool = True) -> ssl.SSLContext:
    ctx = (
        ssl.create_default_context(cafile=str(pki().ca_cert))
        if verify
        else ssl._create_unverified_context()  # noqa: S323 (self-signed component certs)  # nosec B323
    )
    if client:
        ctx.load_cert_chain(str(pki().cert(client)), str(pki().key(client)))
    return ctx


def https_ok(url: str, *, verify: bool = True) -> bool:
    return http_ok(url, context=_tls_context(verify=verify))


def _etcd(c: Component) -> list[str]:
    return [
        str(tool_path("etcd")),
        "--name",
        "kommerce",
        "--data-dir",
        str(c.root / "data"),
        "--listen-client-urls",
        f"http://127.0.0.1:{cport('etcd')}",
        "--advertise-client-urls",
        f"http://127.0.0.1:{cport('etcd')}",
        "--listen-peer-urls",
        f"http://127.0.0.1:{cport('etcd-peer')}",
        "--initial-advertise-peer-urls",
        f"http://127.0.0.1:{cport('etcd-peer')}",
        "--initial-cluster",
        f"kommerce=http://127.0.0.1:{cport('etcd-peer')}",
        "--quota-backend-bytes",
        str(2 * 1024**3),
        "--log-level",
        "warn",
        "--unsafe-no-fsync",  # a disposable dev cluster; fsync dominates its latency on VMs
    ]


def _apiserver(c: Component) -> list[str]:
    p = pki()
    return [
        str(tool_path("kube-apiserver")),
        f"--etcd-servers=http://127.0.0.1:{cport('etcd')}",
        "--bind-address=127.0.0.1",
        f"--secure-port={cport('apiserver')}",
        "--advertise-address=127.0.0.1",
        f"--tls-cert-file={p.cert('apiserver')}",
        f"--tls-private-key-file={p.key('apiserver')}",
        f"--client-ca-file={p.ca_cert}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={p.sa_pub}",
        f"--service-account-signing-key-file={p.sa_key}",
        "--service-cluster-ip-range=10.96.0.0/16",
        "--authorization-mode=RBAC",
        "--allow-privileged=true",
        "--profiling=false",
        f"--cert-dir={c.root}",
        "--v=1",
    ]


def _controller_manager(c: Component) -> list[str]:
    p = pki()
    kc = kubeconfig_path("controller-manager")
    return [
        str(tool_path("kube-controller-manager")),
        f"--kubeconfig={kc}",
        f"--authentication-kubeconfig={kc}",
        f"--authorization-kubeconfig={kc}",
        "--bind-address=127.0.0.1",
        f"--secure-port={cport('controller-manager')}",
        "--leader-elect=false",
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={p.sa_key}",
        f"--root-ca-file={p.ca_cert}",
        f"--cluster-signing-cert-file={p.ca_cert}",
        f"--cluster-signing-key-file={p.ca_key}",
        "--cluster-name=kommerce",
        "--controllers=*",
        f"--cert-dir={c.root}",
        "--profiling=false",
        "--v=1",
    ]


def _scheduler(c: Component) -> list[str]:
    kc = kubeconfig_path("scheduler")
    return [
        str(tool_path("kube-scheduler")),
        f"--kubeconfig={kc}",
        f"--authentication-kubeconfig={kc}",
        f"--authorization-kubeconfig={kc}",
        "--bind-address=127.0.0.1",
        f"--secure-port={cport('scheduler')}",
        "--leader-elect=false",
        f"--cert-dir={c.root}",
        "--profiling=false",
        "--v=1",
    ]


def _kwok(c: Component) -> list[str]:
    return [
        str(tool_path("kwok")),
        f"--kubeconfig={kubeconfig_path('kwok')}",
        f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}=fake",
        f"--server-address=127.0.0.1:{cport('kwok')}",
        "--cidr=10.244.0.1/16",
        "--node-ip=10.0.0.1",
        "--node-lease-duration-seconds=40",
    ]


def components() -> list[Component]:
    base = cluster_root()
    prepare: Callable[[Component], None] = lambda c: write_credentials()  # noqa: E731
    return [
        Component(
            name="etcd",
            base=base,
            ports=(cport("etcd"), cport("etcd-peer")),
            argv_fn=_etcd,
            health_fn=lambda c: http_ok(f"http://127.0.0.1:{cport('etcd')}/health"),
        ),
        Component(
            name="kube-apiserver",
            base=base,
            ports=(cport("apiserver"),),
            needs=("etcd",),
            prepare_fn=prepare,
            argv_fn=_apiserver,
            start_timeout=180,
            health_fn=lambda c: https_ok(f"{apiserver_url()}/readyz"),
        ),
        Component(
            name="kube-controller-manager",
            base=base,
            ports=(cport("controller-manager"),),
            needs=("kube-apiserver",),
            argv_fn=_controller_manager,
            start_timeout=120,
            health_fn=lambda c: https_ok(
                f"https://127.0.0.1:{cport('controller-manager')}/healthz", verify=False
            ),
        ),
        Component(
            name="kube-scheduler",
            base=base,
            ports=(cport("scheduler"),),
            needs=("kube-apiserver",),
            argv_fn=_scheduler,
            start_timeout=120,
            health_fn=lambda c: https_ok(
                f"https://127.0.0.1:{cport('scheduler')}/healthz", verify=False
            ),
        ),
        Component(
            name="kwok",
            base=base,
            ports=(cport("kwok"),),
            needs=("kube-apiserver",),
            argv_fn=_kwok,
            health_fn=lambda c: http_ok(f"http://127.0.0.1:{cport('kwok')}/healthz"),
        ),
    ]


def node_manifest(name: str) -> dict[str, Any]:
    """A Node that kwok manages (the annotation selects it) with room for many pods."""
    # Fake nodes: room for benchmarks (hundreds of pods) without a real kubelet limit.
    resources = {"cpu": "64", "memory": "512Gi", "pods": "500", "ephemeral-storage": "1Ti"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {KWOK_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/os": "linux",
                "kubernetes.io/hostname": name,
                "type": "kwok",
            },
        },
        "status": {
            "allocatable": resources,
            "capacity": resources,
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "kubeletVersion": "kwok",
                "kubeProxyVersion": "kwok",
                "containerRuntimeVersion": "kwok",
                "kernelVersion": "kwok",
                "osImage": "kwok",
                "machineID": name,
                "systemUUID": name,
                "bootID": name,
            },
        },
    }
