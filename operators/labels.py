"""Labels and owner references every child object carries."""

from __future__ import annotations

from typing import Any

MANAGER = "kommerce-operator"
SERVICE_LABEL = "kommerce.io/service"


def child_labels(name: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/part-of": "kommerce",
        "app.kubernetes.io/managed-by": MANAGER,
        SERVICE_LABEL: name,
    }


def selector_labels(name: str) -> dict[str, str]:
    """The immutable subset used in selectors (a Deployment's selector cannot change)."""
    return {SERVICE_LABEL: name}


def owner_reference(owner: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
