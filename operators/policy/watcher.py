"""Every replica's webhook index, from the `Policy` objects themselves.

The active replica's handlers put policies into the index as they activate them; with peering,
the other replicas run no handlers, yet the webhook Service may send them requests. So every
replica serving the webhook also watches the Policies and indexes the version each one's
`kommerce.io/active-policy` annotation records (written by whichever replica activated it).
Until the first listing is in, the webhook answers 503 and the API server applies the
failurePolicy, rather than admitting everything with an empty index.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from kubernetes import client, watch

from kommerce.api.crd import GROUP, VERSION
from operators.policy.index import ACTIVE_ANNOTATION, ActivePolicy, PolicyIndex

PLURAL = "policies"
WATCH_SECONDS = 240
RETRY_SECONDS = 2.0
log = logging.getLogger("kommerce.operator.policy.watcher")


def indexed(item: dict[str, Any]) -> ActivePolicy | None:
    """What an object says is enforced (nothing once it is being deleted)."""
    meta = item.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return None
    return ActivePolicy.from_annotation(
        str(meta.get("name")), (meta.get("annotations") or {}).get(ACTIVE_ANNOTATION)
    )


class PolicyWatcher:
    def __init__(self, api: client.ApiClient, index: PolicyIndex) -> None:
        self._custom = client.CustomObjectsApi(api)
        self._index = index
        self.synced = threading.Event()
        self._stopped = threading.Event()
        self._watch: watch.Watch | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="policy-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._watch is not None:
            self._watch.stop()  # type: ignore[no-untyped-call]

    def _apply(self, item: dict[str, Any]) -> None:
        name = str(item["metadata"]["name"])
        policy = indexed(item)
        if policy is None:
            self._index.remove(name)
        elif self._index.get(name) != policy:
            self._index.put(policy)

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                listed: dict[str, Any] = self._custom.list_cluster_custom_object(  # type: ignore[assignment]
                    GROUP, VERSION, PLURAL, _request_timeout=30
                )
                names = set()
                for item in listed.get("items", []):
                    self._apply(item)
                    names.add(item["metadata"]["name"])
                for gone in [p.name for p in self._index.all() if p.name not in names]:
                    self._index.remove(gone)
                self.synced.set()
                self._watch = watch.Watch()  # type: ignore[no-untyped-call]
                for event in self._watch.stream(  # type: ignore[no-untyped-call]
                    self._custom.list_cluster_custom_object,
                    GROUP,
                    VERSION,
                    PLURAL,
                    resource_version=listed["metadata"]["resourceVersion"],
                    timeout_seconds=WATCH_SECONDS,
                    _request_timeout=WATCH_SECONDS + 30,
                ):
                    if self._stopped.is_set():
                        return
                    item = event["object"]
                    if event["type"] == "DELETED":
                        self._index.remove(str(item["metadata"]["name"]))
                    elif event["type"] in ("ADDED", "MODIFIED"):
                        self._apply(item)
            except Exception as exc:  # relist after any error (410 Gone, connection loss)
                if self._stopped.is_set():
                    return
                log.warning("policy watch interrupted; relisting", extra={"error": str(exc)[:300]})
                self._stopped.wait(RETRY_SECONDS)
