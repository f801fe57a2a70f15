"""The active policies, and which of them apply to a request or an object.

`ActivePolicy` is what is enforced: the module loaded into OPA plus the enforcement action,
match and parameters of the same (last good) generation. It is persisted as an annotation on
the `Policy`, so a restarted operator re-loads the last good version even when the current
spec's tests fail. `PolicyIndex` is the operator's in-memory set of them: the kopf handlers
write it, the webhook thread reads immutable snapshots without taking a lock.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from kommerce.api.v1alpha1.policy import EnforcementAction, Match

ACTIVE_ANNOTATION = "kommerce.io/active-policy"


@dataclass(frozen=True)
class Target:
    """What a policy is matched against: a request's or an object's kind and namespace."""

    group: str
    kind: str
    namespace: str  # "" for cluster-scoped objects

    @classmethod
    def of_request(cls, request: dict[str, Any]) -> Target:
        kind = request.get("kind") or {}
        return cls(
            group=str(kind.get("group", "")),
            kind=str(kind.get("kind", "")),
            namespace=str(request.get("namespace") or ""),
        )


def _name_matches(pattern: str, value: str) -> bool:
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    return pattern == value


def matches(match: Match, target: Target) -> bool:
    """Gatekeeper-style matching; `namespaces` set means cluster-scoped objects never match."""
    if match.kinds and not any(
        any(g in ("*", target.group) for g in km.api_groups)
        and any(k in ("*", target.kind) for k in km.kinds)
        for km in match.kinds
    ):
        return False
    if target.namespace:
        if match.namespaces and not any(
            _name_matches(p, target.namespace) for p in match.namespaces
        ):
            return False
        if any(_name_matches(p, target.namespace) for p in match.excluded_namespaces):
            return False
    elif match.namespaces:
        return False
    return True


def digest(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class ActivePolicy:
    name: str
    package: str
    module: str
    action: EnforcementAction
    match: Match
    parameters: dict[str, Any] = field(default_factory=dict)
    generation: int | None = None

    @property
    def digest(self) -> str:
        return digest(
            self.module,
            self.action.value,
            self.match.model_dump_json(by_alias=True),
            json.dumps(self.parameters, sort_keys=True),
        )

    @property
    def parameters_json(self) -> str:
        return json.dumps(self.parameters, separators=(",", ":"))

    def annotation(self) -> str:
        return json.dumps(
            {
                "generation": self.generation,
                "package": self.package,
                "enforcementAction": self.action.value,
                "match": self.match.model_dump(by_alias=True),
                "parameters": self.parameters,
                "module": self.module,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_annotation(cls, name: str, text: str | None) -> ActivePolicy | None:
        if not text:
            return None
        try:
            data = json.loads(text)
            return cls(
                name=name,
                package=data["package"],
                module=data["module"],
                action=EnforcementAction(data["enforcementAction"]),
                match=Match.model_validate(data.get("match") or {}),
                parameters=dict(data.get("parameters") or {}),
                generation=data.get("generation"),
            )
        except (ValueError, KeyError, TypeError):
            return None  # hand-edited beyond repair: treated as never activated


class PolicyIndex:
    """Active policies by name. Writers (kopf loop) swap in a new tuple; readers never lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_name: dict[str, ActivePolicy] = {}
        self._snapshot: tuple[ActivePolicy, ...] = ()

    def put(self, policy: ActivePolicy) -> None:
        with self._lock:
            self._by_name[policy.name] = policy
            self._publish()

    def remove(self, name: str) -> None:
        with self._lock:
            self._by_name.pop(name, None)
            self._publish()

    def _publish(self) -> None:
        self._snapshot = tuple(sorted(self._by_name.values(), key=lambda p: p.name))

    def get(self, name: str) -> ActivePolicy | None:
        return self._by_name.get(name)

    def all(self) -> tuple[ActivePolicy, ...]:
        return self._snapshot

    def matching(self, target: Target) -> list[ActivePolicy]:
        return [p for p in self._snapshot if matches(p.match, target)]
