"""Admission decisions from policy results (pure; the webhook and its tests share it).

- deny: any violation rejects the request (HTTP 403) with every deny message;
- warn: the request is admitted, each message comes back as a warning (`kubectl` prints it);
- dryrun: admitted silently; the violation is only logged and counted.

A policy that could not be evaluated (OPA down, timeout) makes a deny policy's request fail, so
the API server applies the webhook's `failurePolicy`; a warn or dryrun policy's failure only
adds a warning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from kommerce.api.v1alpha1.policy import EnforcementAction
from operators.policy.index import ActivePolicy

MAX_MESSAGE = 1000


@dataclass(frozen=True)
class Outcome:
    policy: ActivePolicy
    messages: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    message: str = ""
    warnings: tuple[str, ...] = ()
    dryrun: tuple[str, ...] = ()  # "[policy] message" of dryrun violations (logged, counted)
    error: str | None = None  # a deny policy could not be evaluated: fail the webhook call
    violations: dict[str, int] = field(default_factory=dict)  # policy -> violations found

    @property
    def label(self) -> str:
        if self.error:
            return "error"
        if not self.allowed:
            return "denied"
        return "warned" if self.warnings else "allowed"


def _tag(policy: str, message: str) -> str:
    return f"[{policy}] {message}"


def decide(outcomes: list[Outcome]) -> Decision:
    denied: list[str] = []
    warnings: list[str] = []
    dryrun: list[str] = []
    errors: list[str] = []
    counts: dict[str, int] = {}
    for out in outcomes:
        name, action = out.policy.name, out.policy.action
        if out.error is not None:
            if action == EnforcementAction.DENY:
                errors.append(_tag(name, out.error))
            else:
                warnings.append(_tag(name, f"policy could not be evaluated: {out.error}"))
            continue
        if out.messages:
            counts[name] = len(out.messages)
        tagged = [_tag(name, m) for m in out.messages]
        if action == EnforcementAction.DENY:
            denied += tagged
        elif action == EnforcementAction.WARN:
            warnings += tagged
        else:
            dryrun += tagged
    if errors:
        return Decision(allowed=False, error="; ".join(errors), violations=counts)
    message = "; ".join(denied)
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 3] + "..."
    return Decision(
        allowed=not denied,
        message=message,
        warnings=tuple(warnings),
        dryrun=tuple(dryrun),
        violations=counts,
    )


def review_input(request: dict[str, Any], parameters_json: str) -> bytes:
    """`{"input": {"review": <AdmissionRequest>, "parameters": ...}}`, serialised once."""
    review = json.dumps(request, separators=(",", ":"))
    return f'{{"input":{{"review":{review},"parameters":{parameters_json}}}}}'.encode()


IGNORED_METADATA = ("annotations", "finalizers", "managedFields", "resourceVersion", "generation")


def _content(obj: Any) -> Any:
    """An object without status and the metadata that bookkeeping changes."""
    if not isinstance(obj, dict):
        return obj
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in IGNORED_METADATA}
    return {**{k: v for k, v in obj.items() if k != "status"}, "metadata": meta}


def exempt(request: dict[str, Any]) -> bool:
    """Updates never judged: of objects being deleted (finalizer removal), and updates that
    change only annotations, finalizers or status (e.g. an operator's bookkeeping on an object
    admitted before the policy existed; the audit still reports it)."""
    if request.get("operation") != "UPDATE":
        return False
    obj = request.get("object") or {}
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return True
    return bool(_content(obj) == _content(request.get("oldObject")))


def review_response(uid: str, decision: Decision) -> dict[str, Any]:
    response: dict[str, Any] = {"uid": uid, "allowed": decision.allowed}
    if not decision.allowed:
        response["status"] = {"code": 403, "reason": "Forbidden", "message": decision.message}
    if decision.warnings:
        response["warnings"] = list(decision.warnings)
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}
