"""`kommerce policy test|audit|generate`: Rego tests, a one-off audit, the library manifests."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click
import yaml

from kommerce.paths import REPO_ROOT


@click.group()
def policy() -> None:
    """Policy resources: test Rego, audit the cluster, generate the library's manifests."""


def _policies_in(path: Path) -> list[tuple[Path, dict[str, Any]]]:
    files = [path] if path.is_file() else sorted([*path.rglob("*.yaml"), *path.rglob("*.yml")])
    found = []
    for file in files:
        try:
            docs = list(yaml.safe_load_all(file.read_text()))
        except yaml.YAMLError as exc:
            raise click.ClickException(f"{file}: not YAML: {exc}") from exc
        for doc in docs:
            if not isinstance(doc, dict) or doc.get("kind") != "Policy":
                continue
            spec = doc.get("spec") or {}
            if file.name == "policy.yaml" and not {"rego", "regoFrom"} & set(spec):
                doc = _library_policy(file.parent)  # a starter-library directory
            found.append((file, doc))
    return found


def _library_policy(directory: Path) -> dict[str, Any]:
    from kommerce.api import policy_library

    try:
        return policy_library.resource(directory)
    except policy_library.LibraryError as exc:
        raise click.ClickException(str(exc)) from exc


def _test_resources(path: Path) -> bool:
    """Test each Policy resource's module with its tests; True if all pass."""
    from pydantic import ValidationError

    from kommerce.api.v1alpha1.policy import PolicySpec
    from operators.policy import rego, regotest, sources

    policies = _policies_in(path)
    if not policies:
        raise click.ClickException(f"no .rego files and no Policy resources under {path}")
    ok = True
    for file, body in policies:
        name = str((body.get("metadata") or {}).get("name", "?"))
        where = f"{name} ({file})"
        try:
            spec = PolicySpec.model_validate(body.get("spec") or {})
            module, tests = asyncio.run(sources.resolve(spec, None))
        except (ValidationError, sources.SourceUnavailable) as exc:
            click.echo(f"FAIL {where}: {exc}")
            ok = False
            continue
        package, expected = rego.package_of(module), rego.expected_package(name)
        if package != expected:
            click.echo(f"FAIL {where}: declares package {package}, expected {expected}")
            ok = False
            continue
        report, text = regotest.run_sync(module, tests, verbose=True)
        if report.ok:
            click.echo(f"PASS {where}: {report.summary()}")
            continue
        ok = False
        click.echo(f"FAIL {where}: {report.summary()}")
        click.echo(text.rstrip())
    return ok


@policy.command("test")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
def test(path: Path) -> None:
    """Run Rego tests: PATH is a directory of .rego files (`opa test -v`), or a YAML file or
    directory of Policy resources (each policy's module with its tests)."""
    from operators.policy import regotest

    if path.is_dir() and any(path.rglob("*.rego")):
        result = regotest.run_dir(path, verbose=True)
        click.echo((result.stdout + result.stderr).rstrip())
        if result.returncode != 0:
            click.echo(
                f"error: Rego tests under {path} failed (opa exit {result.returncode})", err=True
            )
            sys.exit(1)
        return
    if not _test_resources(path):
        click.echo("error: some policies' tests fail; they would not be activated", err=True)
        sys.exit(1)


def _kubeconfig() -> Path:
    from kommerce.kube import kubeconfig_from_env

    configured = kubeconfig_from_env()
    if configured:
        return configured
    from kommerce.cluster.control_plane import kubeconfig_path

    return kubeconfig_path()


async def _audit(names: tuple[str, ...], limit: int) -> int:
    from kubernetes import client

    from kommerce.api.crd import GROUP, VERSION
    from kommerce.kube import api_client
    from kommerce.settings import KommerceSettings
    from operators.policy import rego
    from operators.policy.audit import ClusterReader, audit
    from operators.policy.index import ACTIVE_ANNOTATION, ActivePolicy
    from operators.policy.opa import OpaClient, OpaError

    settings = KommerceSettings()
    if settings.opa_url is None:
        raise click.ClickException("KOMMERCE_OPA_URL is not set (eval $(kommerce stack env))")
    opa = OpaClient(str(settings.opa_url))
    rows: list[tuple[str, str, str, str, str, str]] = []
    deny = 0
    try:
        with api_client(_kubeconfig()) as api:
            listed: dict[str, Any] = client.CustomObjectsApi(api).list_cluster_custom_object(  # type: ignore[assignment]
                GROUP, VERSION, "policies"
            )
            reader = ClusterReader(api)
            items = sorted(listed.get("items", []), key=lambda i: i["metadata"]["name"])
            if names:
                missing = set(names) - {i["metadata"]["name"] for i in items}
                if missing:
                    raise click.ClickException(f"no such Policy: {', '.join(sorted(missing))}")
                items = [i for i in items if i["metadata"]["name"] in names]
            for item in items:
                name = item["metadata"]["name"]
                active = ActivePolicy.from_annotation(
                    name, (item["metadata"].get("annotations") or {}).get(ACTIVE_ANNOTATION)
                )
                if active is None:
                    click.echo(f"{name}: not active (see its status), skipped", err=True)
                    continue
                try:
                    loaded = await opa.get_policy(rego.policy_id(name))
                except OpaError as exc:
                    raise click.ClickException(str(exc)) from exc
                if loaded != active.module:
                    raise click.ClickException(
                        f"{name} is not loaded in OPA at {opa.url} (is the operator running "
                        "against this OPA?)"
                    )
                result = await audit(active, reader=reader, opa=opa, limit=limit)
                if result.errors:
                    raise click.ClickException(f"{name}: audit incomplete: {result.errors[0]}")
                click.echo(
                    f"{name} ({active.action.value}): {result.total} violations in "
                    f"{result.objects} objects",
                    err=True,
                )
                if active.action.value == "deny":
                    deny += result.total
                rows += [
                    (name, active.action.value, v.kind, v.namespace, v.name, v.message)
                    for v in result.violations
                ]
    finally:
        await opa.close()
    if rows:
        heads = ("POLICY", "ACTION", "KIND", "NAMESPACE", "NAME", "MESSAGE")
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(heads[:-1])]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths) + "  {}"
        click.echo(fmt.format(*heads))
        for row in rows:
            click.echo(fmt.format(*row))
    return deny


@policy.command("audit")
@click.option("--policy", "names", multiple=True, help="Only this Policy (repeatable).")
@click.option("--limit", type=int, default=1000, show_default=True, help="Rows per policy.")
def audit_command(names: tuple[str, ...], limit: int) -> None:
    """Evaluate existing objects against the active Policy resources (exit 1 on deny violations).

    Uses the cluster of KUBECONFIG (default: the local cluster) and the OPA of KOMMERCE_OPA_URL
    that the operator loaded the policies into.
    """
    deny = asyncio.run(_audit(names, limit))
    if deny:
        click.echo(f"error: {deny} violations of deny policies", err=True)
        sys.exit(1)


@policy.command("generate")
@click.option("--check", is_flag=True, help="Exit 1 if the manifests are stale instead of writing.")
def generate(check: bool) -> None:
    """Write manifests/base/policies/ from the library in policies/rego/ (or check it)."""
    from kommerce.api import policy_library

    try:
        if check:
            stale = policy_library.stale()
            for path in stale:
                click.echo(f"stale: {path.relative_to(REPO_ROOT)}", err=True)
            if stale:
                click.echo("run `kommerce policy generate` and commit the result", err=True)
                sys.exit(1)
            click.echo("manifests/base/policies/ is up to date")
            return
        changed = policy_library.write()
    except policy_library.LibraryError as exc:
        raise click.ClickException(str(exc)) from exc
    for path in changed:
        click.echo(f"{'wrote' if path.exists() else 'removed'} {path.relative_to(REPO_ROOT)}")
    if not changed:
        click.echo("manifests/base/policies/ is up to date")
