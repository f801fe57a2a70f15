"""The audit: evaluate objects that already exist against an active policy.

For each kind the policy matches, the objects are listed (paged) and each is evaluated with the
same input the webhook builds, with `operation: "AUDIT"` (no user, no old object), in the
namespaces admission covers (not kube-system, not namespaces labelled
`admission.kommerce.io/ignore: "true"`). The operator runs it periodically and writes the result
into the Policy status and metrics; `kommerce policy audit` runs the same code once.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.resource import Resource

from kommerce.api.v1alpha1.policy import MAX_VIOLATIONS, KindMatch, Violation
from operators.policy import decision
from operators.policy.index import ActivePolicy, Target, matches
from operators.policy.opa import OpaClient, OpaError
from operators.policy.webhookconfig import IGNORE_LABEL, SKIPPED_NAMESPACES

PAGE = 500
CONCURRENCY = 16
REQUEST_TIMEOUT = 30
# Objects the webhook never sees: audited kinds are those it could (all kinds if unrestricted
# would list every object in the cluster, so an empty `match.kinds` audits these).
DEFAULT_KINDS = (
    KindMatch(api_groups=["kommerce.io"], kinds=["*"]),
    KindMatch(api_groups=["apps"], kinds=["Deployment", "StatefulSet", "DaemonSet"]),
    KindMatch(api_groups=[""], kinds=["Pod"]),
)


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


@dataclass
class AuditResult:
    violations: list[Violation] = field(default_factory=list)  # capped
    total: int = 0
    objects: int = 0
    errors: list[str] = field(default_factory=list)


class ClusterReader:
    """Blocking reads of what exists (run in worker threads)."""

    def __init__(self, api: client.ApiClient) -> None:
        self._api = api
        self._dynamic = DynamicClient(api)  # type: ignore[no-untyped-call]
        self._lock = threading.Lock()  # the dynamic client's discovery cache is not thread-safe

    def kinds(self, wanted: list[KindMatch]) -> list[Kind]:
        found: dict[tuple[str, str], Kind] = {}
        for km in wanted or list(DEFAULT_KINDS):
            for group in km.api_groups:
                for kind in km.kinds:
                    if group == "*" and kind == "*":
                        continue  # every object in the cluster: not audited (see docs)
                    for k in self._search(group, kind):
                        found[(k.group, k.kind)] = k
        return sorted(found.values(), key=lambda k: (k.group, k.kind))

    def _search(self, group: str, kind: str) -> list[Kind]:
        query: dict[str, str] = {}
        if group != "*":
            query["group"] = group
        if kind != "*":
            query["kind"] = kind
        with self._lock:
            try:
                resources = self._dynamic.resources.search(**query)
            except Exception:
                return []
        out = []
        for r in resources:
            if not isinstance(r, Resource) or not r.preferred or "/" in (r.name or ""):
                continue
            if "list" not in (r.verbs or []):
                continue
            out.append(
                Kind(
                    group=r.group or "",
                    version=r.api_version,
                    kind=r.kind,
                    plural=r.name,
                    namespaced=bool(r.namespaced),
                )
            )
        return out

    def skipped_namespaces(self) -> set[str]:
        core = client.CoreV1Api(self._api)
        labelled = core.list_namespace(
            label_selector=f"{IGNORE_LABEL}=true", _request_timeout=REQUEST_TIMEOUT
        ).items
        return set(SKIPPED_NAMESPACES) | {str(n.metadata.name) for n in labelled if n.metadata}

    def objects(self, kind: Kind) -> Iterator[dict[str, Any]]:
        with self._lock:
            resource = self._dynamic.resources.get(api_version=kind.api_version, kind=kind.kind)
        token: str | None = None
        while True:
            page = resource.get(limit=PAGE, _continue=token, _request_timeout=REQUEST_TIMEOUT)
            data = page.to_dict()
            for item in data.get("items") or []:
                item.setdefault("apiVersion", kind.api_version)
                item.setdefault("kind", kind.kind)
                yield item
            token = (data.get("metadata") or {}).get("continue")
            if not token:
                return

    def list_objects(self, kind: Kind) -> list[dict[str, Any]]:
        return list(self.objects(kind))


def audit_request(kind: Kind, obj: dict[str, Any]) -> dict[str, Any]:
    """The AdmissionRequest-shaped `input.review` of an existing object."""
    meta = obj.get("metadata") or {}
    return {
        "uid": str(meta.get("uid", "")),
        "kind": {"group": kind.group, "version": kind.version, "kind": kind.kind},
        "resource": {"group": kind.group, "version": kind.version, "resource": kind.plural},
        "name": meta.get("name", ""),
        "namespace": meta.get("namespace", "") if kind.namespaced else "",
        "operation": "AUDIT",
        "userInfo": {},
        "object": obj,
        "oldObject": None,
        "dryRun": False,
    }


async def audit(
    policy: ActivePolicy,
    *,
    reader: ClusterReader,
    opa: OpaClient,
    limit: int = MAX_VIOLATIONS,
) -> AuditResult:
    result = AuditResult()
    kinds = await asyncio.to_thread(reader.kinds, policy.match.kinds)
    skipped = await asyncio.to_thread(reader.skipped_namespaces)
    semaphore = asyncio.Semaphore(CONCURRENCY)
    found: list[Violation] = []

    async def one(kind: Kind, obj: dict[str, Any]) -> None:
        request = audit_request(kind, obj)
        async with semaphore:
            try:
                msgs = await opa.violations_raw(
                    policy.package, decision.review_input(request, policy.parameters_json)
                )
            except OpaError as exc:
                result.errors.append(str(exc))
                return
        found.extend(
            Violation(
                kind=kind.kind, namespace=request["namespace"], name=request["name"], message=m
            )
            for m in msgs
        )

    for kind in kinds:
        try:
            objects = await asyncio.to_thread(reader.list_objects, kind)
        except Exception as exc:
            result.errors.append(f"cannot list {kind.plural}.{kind.group}: {exc}"[:300])
            continue
        selected = [
            o
            for o in objects
            if matches(policy.match, Target(kind.group, kind.kind, _namespace(kind, o)))
            and _namespace(kind, o) not in skipped
        ]
        result.objects += len(selected)
        await asyncio.gather(*(one(kind, o) for o in selected))
        if result.errors:  # OPA went away: do not report a partial audit as complete
            break
    found.sort(key=lambda v: (v.namespace, v.kind, v.name, v.message))
    result.total = len(found)
    result.violations = found[:limit]
    return result


def _namespace(kind: Kind, obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "") if kind.namespaced else ""
