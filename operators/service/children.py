"""What a `Service` becomes: pure functions from the spec to child manifests.

No I/O here: every function takes the parsed spec and returns plain manifests, so the shape of
what the operator creates is unit-tested without a cluster, and the reconciler only applies.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from kommerce.api.v1alpha1.service import ExposureType, ServiceSpec
from operators.labels import SERVICE_LABEL, child_labels, owner_reference, selector_labels

Manifest = dict[str, Any]
CONFIG_MOUNT = "/etc/kommerce"


@dataclass(frozen=True)
class Owner:
    """The `Service` object the children belong to."""

    name: str
    namespace: str
    body: dict[str, Any]

    def metadata(self, name: str | None = None) -> dict[str, Any]:
        return {
            "name": name or self.name,
            "namespace": self.namespace,
            "labels": child_labels(self.name),
            "ownerReferences": [owner_reference(self.body)],
        }


def desired_replicas(spec: ServiceSpec) -> int:
    """Replicas the service should run: the autoscaler's floor, or `replicas` (default 1)."""
    if spec.autoscaling is not None:
        return spec.autoscaling.min_replicas
    return 1 if spec.replicas is None else spec.replicas


def image_ref(spec: ServiceSpec) -> str:
    last = spec.image.rsplit("/", 1)[-1]
    if "@" in spec.image or ":" in last:
        return spec.image
    return f"{spec.image}:{spec.version}"


def endpoint(owner: Owner, spec: ServiceSpec) -> str:
    return f"http://{owner.name}.{owner.namespace}.svc.cluster.local:{spec.ports[0].port}"


def service_account(owner: Owner) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": owner.metadata(),
        "automountServiceAccountToken": False,
    }


def config_map(owner: Owner, spec: ServiceSpec) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": owner.metadata(),
        "data": dict(sorted(spec.config.items())),
    }


def _probe(spec: ServiceSpec, which: str) -> dict[str, Any]:
    probe = getattr(spec.probes, which)
    return {
        "httpGet": {"path": probe.path, "port": probe.port},
        "initialDelaySeconds": probe.initial_delay_seconds,
        "periodSeconds": probe.period_seconds,
        "failureThreshold": probe.failure_threshold,
    }


def _resources(spec: ServiceSpec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("requests", "limits"):
        amounts = getattr(spec.resources, key).model_dump(exclude_none=True)
        if amounts:
            out[key] = amounts
    return out


def deployment(owner: Owner, spec: ServiceSpec, *, secret_names: list[str]) -> Manifest:
    config_hash = hashlib.sha256(json.dumps(spec.config, sort_keys=True).encode()).hexdigest()[:16]
    env = [
        {"name": "KOMMERCE_SERVICE_NAME", "value": owner.name},
        {"name": "KOMMERCE_SERVICE_VERSION", "value": spec.version},
    ]
    env += [{"name": k, "value": v} for k, v in sorted(spec.env.items())]
    env_from: list[dict[str, Any]] = [{"secretRef": {"name": n}} for n in secret_names]
    env_from += [
        {"secretRef": {"name": s.name, "optional": s.optional}} for s in spec.dependencies.secrets
    ]
    container: dict[str, Any] = {
        "name": "app",
        "image": image_ref(spec),
        "ports": [
            {"name": p.name, "containerPort": p.port, "protocol": p.protocol} for p in spec.ports
        ],
        "env": env,
        "livenessProbe": _probe(spec, "liveness"),
        "readinessProbe": _probe(spec, "readiness"),
        "resources": _resources(spec),
        "volumeMounts": [{"name": "config", "mountPath": CONFIG_MOUNT, "readOnly": True}],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    if env_from:
        container["envFrom"] = env_from
    body: dict[str, Any] = {
        "selector": {"matchLabels": selector_labels(owner.name)},
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
        },
        "template": {
            "metadata": {
                "labels": child_labels(owner.name),
                "annotations": {"kommerce.io/config-hash": config_hash},
            },
            "spec": {
                "serviceAccountName": owner.name,
                "automountServiceAccountToken": False,
                "securityContext": {
                    "runAsNonRoot": True,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [container],
                "volumes": [{"name": "config", "configMap": {"name": owner.name}}],
            },
        },
    }
    if spec.autoscaling is None:
        body["replicas"] = desired_replicas(spec)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": owner.metadata(),
        "spec": body,
    }


def core_service(owner: Owner, spec: ServiceSpec) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": owner.metadata(),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(owner.name),
            "ports": [
                {"name": p.name, "port": p.port, "targetPort": p.name, "protocol": p.protocol}
                for p in spec.ports
            ],
        },
    }


def autoscaler(owner: Owner, spec: ServiceSpec) -> Manifest | None:
    if spec.autoscaling is None:
        return None
    a = spec.autoscaling
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": owner.metadata(),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": owner.name},
            "minReplicas": a.min_replicas,
            "maxReplicas": a.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": a.target_cpu_utilization_percentage,
                        },
                    },
                }
            ],
        },
    }


def disruption_budget(owner: Owner, spec: ServiceSpec) -> Manifest | None:
    """Only when more than one replica runs: a PDB on a single replica blocks node drains."""
    if desired_replicas(spec) < 2:
        return None
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": owner.metadata(),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector_labels(owner.name)}},
    }


def network_policy(owner: Owner, spec: ServiceSpec) -> Manifest:
    """Deny all ingress except from the declared callers (and the ingress controller if exposed)."""
    peers: list[dict[str, Any]] = (
        [
            {
                "podSelector": {
                    "matchExpressions": [
                        {"key": SERVICE_LABEL, "operator": "In", "values": sorted(spec.callers)}
                    ]
                }
            }
        ]
        if spec.callers
        else []
    )
    if spec.exposure.type == ExposureType.INGRESS:
        peers.append(
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
        )
    ingress = (
        [{"from": peers, "ports": [{"port": p.port, "protocol": p.protocol} for p in spec.ports]}]
        if peers
        else []
    )
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": owner.metadata(),
        "spec": {
            "podSelector": {"matchLabels": selector_labels(owner.name)},
            "policyTypes": ["Ingress"],
            "ingress": ingress,
        },
    }


def ingress(owner: Owner, spec: ServiceSpec) -> Manifest | None:
    if spec.exposure.type != ExposureType.INGRESS or spec.exposure.host is None:
        return None
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": owner.metadata(),
        "spec": {
            "rules": [
                {
                    "host": spec.exposure.host,
                    "http": {
                        "paths": [
                            {
                                "path": spec.exposure.path,
                                "pathType": "Prefix",
                                "backend": {
                                    "service": {
                                        "name": owner.name,
                                        "port": {"name": spec.ports[0].name},
                                    }
                                },
                            }
                        ]
                    },
                }
            ]
        },
    }


def children(owner: Owner, spec: ServiceSpec, *, secret_names: list[str]) -> list[Manifest]:
    """Every child that should exist, in apply order."""
    candidates = [
        service_account(owner),
        config_map(owner, spec),
        deployment(owner, spec, secret_names=secret_names),
        core_service(owner, spec),
        autoscaler(owner, spec),
        disruption_budget(owner, spec),
        network_policy(owner, spec),
        ingress(owner, spec),
    ]
    return [c for c in candidates if c is not None]


OPTIONAL_KINDS = {
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("policy/v1", "PodDisruptionBudget"),
    ("networking.k8s.io/v1", "Ingress"),
}
