"""The Rego text of a `Policy`: inline, or read from ConfigMap keys at every reconcile."""

from __future__ import annotations

from kommerce.api.v1alpha1.policy import PolicySpec, RegoSource
from operators.apply import Applier


class SourceUnavailable(Exception):
    """A referenced ConfigMap or key does not exist (yet)."""


async def _read(applier: Applier, source: RegoSource) -> str:
    ref = source.config_map_key_ref
    where = f"ConfigMap {ref.namespace}/{ref.name}"
    try:
        config_map = await applier.get("v1", "ConfigMap", ref.name, ref.namespace)
    except Exception as exc:
        raise SourceUnavailable(f"cannot read {where}: {type(exc).__name__}: {exc}") from exc
    if config_map is None:
        raise SourceUnavailable(f"{where} does not exist")
    data = config_map.get("data") or {}
    if ref.key not in data:
        raise SourceUnavailable(f"{where} has no key {ref.key!r}")
    return str(data[ref.key])


async def resolve(spec: PolicySpec, applier: Applier | None) -> tuple[str, list[str]]:
    """(module, test modules); ConfigMap references need `applier` (None: offline)."""
    if spec.rego is not None:
        module = spec.rego
    else:
        assert spec.rego_from is not None  # the model guarantees one of them
        if applier is None:
            raise SourceUnavailable("regoFrom needs the cluster (a ConfigMap reference)")
        module = await _read(applier, spec.rego_from)
    tests = list(spec.tests)
    for source in spec.tests_from:
        if applier is None:
            raise SourceUnavailable("testsFrom needs the cluster (a ConfigMap reference)")
        tests.append(await _read(applier, source))
    return module, tests
