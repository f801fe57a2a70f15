"""Kopf's peering CRD: lets operator replicas see each other so only one is active."""

from __future__ import annotations

from typing import Any

PEERING_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {
        "name": "clusterkopfpeerings.kopf.dev",
        "labels": {"app.kubernetes.io/part-of": "kommerce"},
    },
    "spec": {
        "scope": "Cluster",
        "group": "kopf.dev",
        "names": {
            "kind": "ClusterKopfPeering",
            "plural": "clusterkopfpeerings",
            "singular": "clusterkopfpeering",
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "description": "Operator replicas announce themselves here (kopf peering).",
                        "properties": {
                            "status": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            }
                        },
                    }
                },
            }
        ],
    },
}
