"""The `ValidatingWebhookConfiguration` `kommerce-policy` that sends requests to the operator.

Two webhooks, CREATE and UPDATE only, short timeout:

- `kommerce-resources.policy.kommerce.io`: every kommerce.io resource except `Policy` itself
  (so a broken webhook never blocks fixing policies); failurePolicy Fail by default (fail
  closed: if the operator or OPA is down, kommerce resources cannot be changed until it is back
  or the configuration is deleted);
- `workloads.policy.kommerce.io`: apps/v1 Deployments, StatefulSets, DaemonSets and v1 Pods;
  failurePolicy Ignore by default (a down operator must not stop the cluster from healing).

Both skip kube-system and namespaces labelled `admission.kommerce.io/ignore: "true"`.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

NAME = "kommerce-policy"
IGNORE_LABEL = "admission.kommerce.io/ignore"
SKIPPED_NAMESPACES = ("kube-system",)
KOMMERCE_PATH = "/validate/kommerce"
WORKLOADS_PATH = "/validate/workloads"
TIMEOUT_SECONDS = 3

FailurePolicy = Literal["Fail", "Ignore"]


@dataclass(frozen=True)
class Endpoint:
    """Where the API server reaches the webhook: a URL, or a Service in the cluster."""

    url: str | None = None
    service_namespace: str | None = None
    service_name: str | None = None
    service_port: int = 443

    def client_config(self, path: str, ca_bundle: bytes) -> dict[str, Any]:
        ca = base64.b64encode(ca_bundle).decode()
        if self.url:
            return {"url": self.url.rstrip("/") + path, "caBundle": ca}
        return {
            "service": {
                "namespace": self.service_namespace,
                "name": self.service_name,
                "path": path,
                "port": self.service_port,
            },
            "caBundle": ca,
        }

    @property
    def local(self) -> bool:
        """A URL on this machine: the configuration goes away when the operator stops."""
        host = urlsplit(self.url).hostname if self.url else None
        return host in ("127.0.0.1", "localhost", "::1")

    def hosts(self) -> list[str]:
        """Names the serving certificate must carry."""
        if self.url:
            return [str(urlsplit(self.url).hostname)]
        svc = f"{self.service_name}.{self.service_namespace}.svc"
        return [svc, f"{svc}.cluster.local"]


NAMESPACE_SELECTOR = {
    "matchExpressions": [
        {
            "key": "kubernetes.io/metadata.name",
            "operator": "NotIn",
            "values": list(SKIPPED_NAMESPACES),
        },
        {"key": IGNORE_LABEL, "operator": "NotIn", "values": ["true"]},
    ]
}


def _webhook(
    name: str,
    path: str,
    rules: list[dict[str, Any]],
    failure_policy: FailurePolicy,
    endpoint: Endpoint,
    ca_bundle: bytes,
) -> dict[str, Any]:
    return {
        "name": name,
        "clientConfig": endpoint.client_config(path, ca_bundle),
        "rules": rules,
        "failurePolicy": failure_policy,
        "matchPolicy": "Equivalent",
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
        "timeoutSeconds": TIMEOUT_SECONDS,
        "namespaceSelector": NAMESPACE_SELECTOR,
    }


def configuration(
    *,
    endpoint: Endpoint,
    ca_bundle: bytes,
    kommerce_failure_policy: FailurePolicy = "Fail",
    workload_failure_policy: FailurePolicy = "Ignore",
) -> dict[str, Any]:
    ops = ["CREATE", "UPDATE"]
    kommerce = _webhook(
        "kommerce-resources.policy.kommerce.io",
        KOMMERCE_PATH,
        [
            {
                "apiGroups": ["kommerce.io"],
                "apiVersions": ["*"],
                "resources": ["*"],
                "operations": ops,
                "scope": "*",
            }
        ],
        kommerce_failure_policy,
        endpoint,
        ca_bundle,
    )
    kommerce["matchConditions"] = [
        {"name": "not-policies", "expression": "request.resource.resource != 'policies'"}
    ]
    workloads = _webhook(
        "workloads.policy.kommerce.io",
        WORKLOADS_PATH,
        [
            {
                "apiGroups": ["apps"],
                "apiVersions": ["v1"],
                "resources": ["deployments", "statefulsets", "daemonsets"],
                "operations": ops,
                "scope": "Namespaced",
            },
            {
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "resources": ["pods"],
                "operations": ops,
                "scope": "Namespaced",
            },
        ],
        workload_failure_policy,
        endpoint,
        ca_bundle,
    )
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {
            "name": NAME,
            "labels": {
                "app.kubernetes.io/part-of": "kommerce",
                "app.kubernetes.io/managed-by": "kommerce-operator",
            },
        },
        "webhooks": [kommerce, workloads],
    }
