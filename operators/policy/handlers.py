"""Kopf handlers for `Policy`: test, activate (load into OPA), index, audit, unload.

Every trigger (create, spec update, resume, and a 5 s timer) runs the same level-triggered
`reconcile`: resolve the Rego sources, run the tests (cached by content), and activate the
spec only if they pass. A spec whose tests fail is never activated; the last good version
(kept in the `kommerce.io/active-policy` annotation) stays loaded and enforced, and the status
says which generation that is and which tests fail. The timer also notices an OPA that lost
its policies (restarted) and loads them again, and runs the audit every `--audit-interval`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import ValidationError

import operators.runtime  # noqa: F401 - registered first: its startup configures logging
from kommerce.api.crd import GROUP, VERSION
from kommerce.api.v1alpha1.policy import PolicySpec
from kommerce.kube import api_client, kubeconfig_from_env
from kommerce.settings import KommerceSettings
from operators import conditions
from operators import metrics as operator_metrics
from operators.apply import Applier
from operators.policy import admission, metrics, rego, regotest, sources
from operators.policy.audit import ClusterReader, audit
from operators.policy.index import ACTIVE_ANNOTATION, ActivePolicy, PolicyIndex
from operators.policy.opa import OpaClient, OpaRejected, OpaUnavailable

PLURAL = "policies"
KIND = "Policy"
RESYNC_SECONDS = 5.0
log = logging.getLogger("kommerce.operator.policy")


@dataclass
class PolicyRuntime:
    """What the Policy handlers share (in kopf's memo)."""

    index: PolicyIndex
    applier: Applier
    reader: ClusterReader
    opa: OpaClient | None
    audit_interval: float = 60.0
    tests: regotest.TestCache = field(default_factory=regotest.TestCache)
    last_audit: dict[str, float] = field(default_factory=dict)
    audited: dict[str, str] = field(default_factory=dict)  # name -> digest of the version audited
    admission: admission.Admission | None = None


@dataclass
class Pass:
    """What one reconcile pass observed."""

    spec_error: str | None = None
    source_error: str | None = None
    module_error: str | None = None
    report: regotest.TestReport | None = None
    candidate: ActivePolicy | None = None
    active: ActivePolicy | None = None  # what is enforced after this pass
    opa_error: str | None = None
    load_error: str | None = None


def _candidate(name: str, generation: int | None, spec: PolicySpec, module: str) -> ActivePolicy:
    return ActivePolicy(
        name=name,
        package=rego.package_of(module) or "",
        module=module,
        action=spec.enforcement_action,
        match=spec.match,
        parameters=dict(spec.parameters),
        generation=generation,
    )


async def _observe(body: kopf.Body, rt: PolicyRuntime) -> Pass:
    name = body["metadata"]["name"]
    generation = body["metadata"].get("generation")
    annotations = body["metadata"].get("annotations") or {}
    last_good = ActivePolicy.from_annotation(name, annotations.get(ACTIVE_ANNOTATION))
    seen = Pass(active=last_good)
    try:
        spec = PolicySpec.model_validate(dict(body.get("spec", {})))
    except ValidationError as exc:  # admission should have caught it
        seen.spec_error = str(exc)[:1000]
        spec = None
    if spec is not None:
        try:
            module, tests = await sources.resolve(spec, rt.applier)
        except sources.SourceUnavailable as exc:
            seen.source_error = str(exc)
        else:
            package, expected = rego.package_of(module), rego.expected_package(name)
            if package != expected:
                seen.module_error = (
                    f"the module declares package {package or '(none)'}; a Policy named "
                    f"{name} must declare package {expected}"
                )
            else:
                seen.report = await rt.tests.run(module, tests)
                seen.candidate = _candidate(name, generation, spec, module)
                if seen.report.ok:
                    seen.active = seen.candidate
    if seen.active is not None and rt.opa is not None:
        try:
            if await rt.opa.ensure_policy(rego.policy_id(name), seen.active.module):
                log.info("loaded into OPA", extra={"policy": name, "digest": seen.active.digest})
        except OpaUnavailable as exc:
            seen.opa_error = str(exc)
        except OpaRejected as exc:
            seen.load_error = str(exc)
            if seen.active is seen.candidate and last_good is not None:
                seen.active = last_good  # keep enforcing what OPA accepted before
                try:
                    await rt.opa.ensure_policy(rego.policy_id(name), last_good.module)
                except (OpaUnavailable, OpaRejected):
                    seen.active = None
            else:
                seen.active = None
    elif seen.active is not None:
        seen.opa_error = "the operator has no OPA: set KOMMERCE_OPA_URL"
    return seen


def _conditions(seen: Pass, name: str) -> list[conditions.Observed]:
    report = seen.report
    if seen.spec_error:
        tests = conditions.Observed("TestsPassed", None, "InvalidSpec", seen.spec_error)
    elif seen.source_error:
        tests = conditions.Observed("TestsPassed", None, "SourceUnavailable", seen.source_error)
    elif seen.module_error:
        tests = conditions.Observed("TestsPassed", False, "InvalidModule", seen.module_error)
    elif report is not None and report.error:
        tests = conditions.Observed("TestsPassed", False, "CompileFailed", report.summary()[:1000])
    elif report is not None and report.failed:
        tests = conditions.Observed("TestsPassed", False, "TestsFailed", report.summary()[:1000])
    else:
        tests = conditions.Observed(
            "TestsPassed", True, "Passed", report.summary() if report else ""
        )
    if seen.opa_error:
        degraded = conditions.Observed("Degraded", True, "OpaUnavailable", seen.opa_error[:1000])
    else:
        degraded = conditions.Observed("Degraded", False, "OpaReachable", "")
    keeping = ""
    if seen.active is not None and seen.active is not seen.candidate:
        keeping = f"; generation {seen.active.generation} stays active"
    if seen.spec_error:
        ready = conditions.Observed("Ready", False, "InvalidSpec", seen.spec_error + keeping)
    elif seen.source_error:
        ready = conditions.Observed(
            "Ready", False, "SourceUnavailable", seen.source_error + keeping
        )
    elif seen.module_error:
        ready = conditions.Observed("Ready", False, "InvalidModule", seen.module_error + keeping)
    elif report is not None and not report.ok:
        ready = conditions.Observed(
            "Ready", False, "TestsFailed", f"not activated: {report.summary()}"[:900] + keeping
        )
    elif seen.load_error:
        ready = conditions.Observed(
            "Ready",
            False,
            "LoadFailed",
            f"OPA refused the module: {seen.load_error}"[:900] + keeping,
        )
    elif seen.opa_error:
        ready = conditions.Observed("Ready", False, "OpaUnavailable", seen.opa_error[:1000])
    else:
        enforced = seen.active.action.value if seen.active else "nothing"
        ready = conditions.Observed(
            "Ready", True, "Active", f"enforced ({enforced}) as {rego.policy_id(name)}"
        )
    return [ready, tests, degraded]


async def reconcile(body: kopf.Body, patch: kopf.Patch, rt: PolicyRuntime) -> Pass:
    name = body["metadata"]["name"]
    generation = body["metadata"].get("generation")
    with operator_metrics.reconcile_timer(KIND):
        seen = await _observe(body, rt)
        if seen.active is not None:
            rt.index.put(seen.active)
            annotations = body["metadata"].get("annotations") or {}
            text = seen.active.annotation()
            if annotations.get(ACTIVE_ANNOTATION) != text:
                patch.metadata.annotations[ACTIVE_ANNOTATION] = text
        else:
            rt.index.remove(name)
        previous = dict(body.get("status", {}))
        new_conditions = conditions.merge(
            list(previous.get("conditions", [])), _conditions(seen, name), generation=generation
        )
        report = seen.report or regotest.TestReport()
        metrics.TESTS_FAILED.labels(name).set(report.failed)
        patch.status["observedGeneration"] = generation
        patch.status["conditions"] = new_conditions
        shown = seen.active or seen.candidate
        patch.status["package"] = shown.package if shown is not None else None
        patch.status["active"] = seen.active is not None
        patch.status["activeGeneration"] = seen.active.generation if seen.active else None
        if seen.report is not None:
            patch.status["tests"] = {
                "passed": report.passed,
                "failed": report.failed,
                "failures": list(report.failures),
            }
        if seen.active is None:
            patch.status["violations"] = []
            patch.status["totalViolations"] = 0
            for action in ("deny", "warn", "dryrun"):
                metrics.VIOLATIONS.labels(name, action).set(0)
        elif not seen.opa_error and (
            _audit_due(rt, name, previous)
            or rt.audited.get(name, seen.active.digest) != seen.active.digest
        ):
            await _audit(seen.active, patch, rt)
        _post_transitions(body, previous, new_conditions)
    return seen


def _audit_due(rt: PolicyRuntime, name: str, status: dict[str, Any]) -> bool:
    last = rt.last_audit.get(name)
    if last is None:  # first pass of this process: honour the interval across restarts
        stamp = status.get("lastAudit")
        if stamp:
            try:
                age = (datetime.now(UTC) - datetime.fromisoformat(stamp)).total_seconds()
            except ValueError:
                return True
            rt.last_audit[name] = time.monotonic() - max(age, 0.0)
            return age >= rt.audit_interval
        return True
    return time.monotonic() - last >= rt.audit_interval


async def _audit(policy: ActivePolicy, patch: kopf.Patch, rt: PolicyRuntime) -> None:
    if rt.opa is None:
        return
    previous = rt.last_audit.get(policy.name)
    rt.last_audit[policy.name] = time.monotonic()  # claimed: a concurrent pass skips it
    started = time.perf_counter()
    try:
        result = await audit(policy, reader=rt.reader, opa=rt.opa)
    except Exception:
        _unclaim(rt, policy.name, previous)
        raise
    metrics.AUDIT_SECONDS.labels(policy.name).observe(time.perf_counter() - started)
    if result.errors:
        _unclaim(rt, policy.name, previous)
        log.warning(
            "audit incomplete", extra={"policy": policy.name, "error": result.errors[0][:300]}
        )
        return  # retried at the next pass
    rt.audited[policy.name] = policy.digest
    patch.status["violations"] = [v.model_dump(by_alias=True) for v in result.violations]
    patch.status["totalViolations"] = result.total
    patch.status["lastAudit"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for action in ("deny", "warn", "dryrun"):
        value = result.total if action == policy.action.value else 0
        metrics.VIOLATIONS.labels(policy.name, action).set(value)
    log.info(
        "audit done",
        extra={"policy": policy.name, "objects": result.objects, "violations": result.total},
    )


def _unclaim(rt: PolicyRuntime, name: str, previous: float | None) -> None:
    if previous is None:
        rt.last_audit.pop(name, None)
    else:
        rt.last_audit[name] = previous


def _post_transitions(
    body: kopf.Body, previous: dict[str, Any], new_conditions: list[dict[str, Any]]
) -> None:
    before = {c.get("type"): c.get("status") for c in previous.get("conditions", [])}
    for cond in new_conditions:
        if before.get(cond["type"]) == cond["status"]:
            continue
        failing = (cond["type"], cond["status"]) in (("TestsPassed", "False"), ("Degraded", "True"))
        if cond["type"] == "Ready" and cond["status"] == "True":
            kopf.info(body, reason="Activated", message=cond["message"])
        elif failing:
            kopf.warn(body, reason=cond["reason"], message=cond["message"])
        elif cond["type"] == "Degraded" and before.get("Degraded") == "True":
            kopf.info(body, reason="Recovered", message="OPA is reachable again")


def _runtime(memo: kopf.Memo) -> PolicyRuntime:
    rt: PolicyRuntime = memo["policy"]
    return rt


@kopf.on.startup(id="policy-startup")
async def startup(memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    options = memo.get("options", {})
    api = api_client(kubeconfig_from_env())
    settings = KommerceSettings()
    opa_url = str(settings.opa_url) if settings.opa_url else None
    rt = PolicyRuntime(
        index=PolicyIndex(),
        applier=Applier(api),
        reader=ClusterReader(api),
        opa=OpaClient(opa_url) if opa_url else None,
        audit_interval=float(options.get("audit_interval", 60.0)),
    )
    if opa_url is None:
        logger.warning("KOMMERCE_OPA_URL is not set: policies cannot be activated")
    if options.get("admission"):
        rt.admission = admission.Admission.from_options(
            options, index=rt.index, applier=rt.applier, api=api, opa_url=opa_url
        )
        await rt.admission.start()
    memo["policy"] = rt


@kopf.on.cleanup(id="policy-cleanup")
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    rt: PolicyRuntime | None = memo.get("policy")
    if rt is None:
        return
    if rt.admission is not None:
        await rt.admission.stop()
    if rt.opa is not None:
        await rt.opa.close()


@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL, field="spec")
@kopf.on.resume(GROUP, VERSION, PLURAL)
async def on_change(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    seen = await reconcile(body, patch, _runtime(memo))
    if seen.spec_error:
        raise kopf.PermanentError(f"invalid spec: {seen.spec_error}")
    if seen.opa_error or seen.source_error:
        operator_metrics.RETRIES.labels(KIND).inc()
        raise kopf.TemporaryError(seen.opa_error or seen.source_error or "", delay=5)


@kopf.timer(GROUP, VERSION, PLURAL, interval=RESYNC_SECONDS, initial_delay=1.0)
async def resync(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    """Reload into an OPA that lost the module, pick up ConfigMap changes, audit when due."""
    await reconcile(body, patch, _runtime(memo))


def _deleted(event: kopf.RawEvent, **_: Any) -> bool:
    return event.get("type") == "DELETED"


@kopf.on.event(GROUP, VERSION, PLURAL, when=_deleted)
def on_gone(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    """Forget a policy as soon as it is gone, whichever replica removed the finalizer."""
    name = event["object"]["metadata"]["name"]
    rt: PolicyRuntime | None = memo.get("policy")
    if rt is not None:
        rt.index.remove(name)
        rt.last_audit.pop(name, None)
        rt.audited.pop(name, None)
    metrics.forget(name)


@kopf.on.delete(GROUP, VERSION, PLURAL)
async def on_delete(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Stop enforcing at once, then unload from OPA (retried while OPA is down)."""
    rt = _runtime(memo)
    name = body["metadata"]["name"]
    rt.index.remove(name)
    if rt.opa is None:
        return
    try:
        await rt.opa.delete_policy(rego.policy_id(name))
    except OpaUnavailable as exc:
        raise kopf.TemporaryError(f"cannot unload from OPA yet: {exc}", delay=5) from exc
    kopf.info(body, reason="Unloaded", message=f"removed {rego.policy_id(name)} from OPA")
