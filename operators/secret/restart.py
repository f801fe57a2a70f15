"""Rolling restarts of the workloads that consume a rotated Secret: once per rotation.

A consumer is a Deployment or StatefulSet in the same namespace whose pod template uses the
Secret (envFrom, env valueFrom, a secret volume or a projected source). Its pod template gets
the annotation `secret.kommerce.io/<secret>: <checksum>`; Kubernetes rolls the pods when the
value changes. The patch is skipped when the annotation already holds the checksum, so a
repeated reconcile (or a crash between patch and status update) never restarts twice, and the
first sync of a new Secret restarts nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from kubernetes import client

ANNOTATION_PREFIX = "secret.kommerce.io/"
FIELD_MANAGER = "kommerce-secret-rollout"


def annotation_key(secret_name: str) -> str:
    if len(secret_name) <= 63:
        return ANNOTATION_PREFIX + secret_name
    digest = hashlib.sha256(secret_name.encode()).hexdigest()[:8]
    return f"{ANNOTATION_PREFIX}{secret_name[:54]}-{digest}"


def uses_secret(pod_spec: Any, secret_name: str) -> bool:
    """Whether a V1PodSpec references the Secret in any way a container can see it."""
    for container in [*(pod_spec.containers or []), *(pod_spec.init_containers or [])]:
        for source in container.env_from or []:
            if source.secret_ref is not None and source.secret_ref.name == secret_name:
                return True
        for env in container.env or []:
            ref = env.value_from.secret_key_ref if env.value_from else None
            if ref is not None and ref.name == secret_name:
                return True
    for volume in pod_spec.volumes or []:
        if volume.secret is not None and volume.secret.secret_name == secret_name:
            return True
        if volume.projected is not None:
            for source in volume.projected.sources or []:
                if source.secret is not None and source.secret.name == secret_name:
                    return True
    return False


def _restart_sync(
    api: client.ApiClient, namespace: str, secret_name: str, checksum: str
) -> list[str]:
    apps = client.AppsV1Api(api)
    key = annotation_key(secret_name)
    restarted = []
    workloads: list[tuple[str, Any, Any]] = [
        ("Deployment", apps.list_namespaced_deployment, apps.patch_namespaced_deployment),
        ("StatefulSet", apps.list_namespaced_stateful_set, apps.patch_namespaced_stateful_set),
    ]
    for kind, list_fn, patch_fn in workloads:
        for item in list_fn(namespace).items:
            template = item.spec.template
            if not uses_secret(template.spec, secret_name):
                continue
            if (template.metadata.annotations or {}).get(key) == checksum:
                continue
            patch_fn(
                item.metadata.name,
                namespace,
                {"spec": {"template": {"metadata": {"annotations": {key: checksum}}}}},
                field_manager=FIELD_MANAGER,
            )
            restarted.append(f"{kind}/{item.metadata.name}")
    return restarted


async def restart_consumers(
    api: client.ApiClient, namespace: str, secret_name: str, checksum: str
) -> list[str]:
    """Patch every consumer not yet at `checksum`; returns `Kind/name` of those restarted."""
    return await asyncio.to_thread(_restart_sync, api, namespace, secret_name, checksum)
