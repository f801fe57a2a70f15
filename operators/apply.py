"""Server-side apply of child objects with one field manager, and their clean-up.

Server-side apply makes reconciles idempotent (the same desired object applied twice changes
nothing), lets the API server merge our fields with other managers' (an HPA owning `replicas`),
and restores hand-edited fields on the next pass. Calls are blocking (official client) and run
in worker threads with request timeouts.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from kubernetes import client
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import NotFoundError

from operators.labels import MANAGER

REQUEST_TIMEOUT = 15
DISCOVERY_MAX_AGE = 15.0


class Applier:
    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self._dynamic = DynamicClient(api)  # type: ignore[no-untyped-call]
        self._discovered_at = time.monotonic()
        # The dynamic client's discovery cache is not thread-safe; calls run in many threads.
        self._discovery_lock = threading.Lock()

    def _refresh_discovery(self, *, max_age: float = DISCOVERY_MAX_AGE) -> None:
        """Forget cached API discovery (kinds come and go as CRDs are installed/removed)."""
        with self._discovery_lock:
            if time.monotonic() - self._discovered_at >= max_age:
                self._dynamic.resources.invalidate_cache()
                self._discovered_at = time.monotonic()

    def _resource(self, api_version: str, kind: str) -> Any:
        with self._discovery_lock:
            return self._dynamic.resources.get(api_version=api_version, kind=kind)

    def has_kind(self, api_version: str, kind: str) -> bool:
        self._refresh_discovery()
        try:
            self._resource(api_version, kind)
        except Exception:
            return False
        return True

    def apply_sync(self, manifest: dict[str, Any]) -> dict[str, Any]:
        resource = self._resource(manifest["apiVersion"], manifest["kind"])
        try:
            result = resource.server_side_apply(
                body=manifest,
                name=manifest["metadata"]["name"],
                namespace=manifest["metadata"].get("namespace"),
                field_manager=MANAGER,
                force_conflicts=True,
                _request_timeout=REQUEST_TIMEOUT,
            )
        except NotFoundError:
            self._refresh_discovery(max_age=0)  # the kind itself went away (CRD deleted)
            raise
        applied: dict[str, Any] = result.to_dict()
        return applied

    def get_sync(
        self, api_version: str, kind: str, name: str, namespace: str
    ) -> dict[str, Any] | None:
        try:
            got = self._resource(api_version, kind).get(
                name=name, namespace=namespace, _request_timeout=REQUEST_TIMEOUT
            )
        except NotFoundError:
            return None
        found: dict[str, Any] = got.to_dict()
        return found

    def delete_sync(self, api_version: str, kind: str, name: str, namespace: str) -> bool:
        try:
            self._resource(api_version, kind).delete(
                name=name, namespace=namespace, _request_timeout=REQUEST_TIMEOUT
            )
        except NotFoundError:
            return False
        return True

    async def has_kind_async(self, api_version: str, kind: str) -> bool:
        return await asyncio.to_thread(self.has_kind, api_version, kind)

    async def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        return await asyncio.to_thread(self.apply_sync, manifest)

    async def get(
        self, api_version: str, kind: str, name: str, namespace: str
    ) -> dict[str, Any] | None:
        return await asyncio.to_thread(self.get_sync, api_version, kind, name, namespace)

    async def delete(self, api_version: str, kind: str, name: str, namespace: str) -> bool:
        return await asyncio.to_thread(self.delete_sync, api_version, kind, name, namespace)
