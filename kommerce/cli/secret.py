"""`kommerce secret rotate NAME`: ask the operator to rotate a `Secret` resource now."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import Any

import click

from kommerce.api.crd import GROUP, VERSION

ROTATE_ANNOTATION = "kommerce.io/rotate"


@click.group()
def secret() -> None:
    """kommerce.io Secret resources (OpenBao-backed); see `kommerce secrets` for SOPS files."""


@secret.command("rotate")
@click.argument("name")
@click.option("-n", "--namespace", default="default", show_default=True)
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait for the rotation.")
@click.option("--timeout", default=120, show_default=True, help="Seconds to wait.")
def rotate(name: str, namespace: str, wait: bool, timeout: int) -> None:
    """Issue new data (credentials, certificate, key version) and restart its consumers."""
    from kubernetes import client

    from kommerce.cli.operator import _kubeconfig
    from kommerce.kube import api_client

    request = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with api_client(_kubeconfig()) as api:
        custom = client.CustomObjectsApi(api)
        try:
            before: dict[str, Any] = custom.get_namespaced_custom_object(  # type: ignore[assignment]
                GROUP, VERSION, namespace, "secrets", name
            )
            custom.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                namespace,
                "secrets",
                name,
                {"metadata": {"annotations": {ROTATE_ANNOTATION: request}}},
            )
        except client.ApiException as exc:
            if exc.status == 404:
                raise click.ClickException(
                    f"no Secret resource {namespace}/{name} (kubectl get ksec -n {namespace})"
                ) from exc
            raise
        version = (before.get("status") or {}).get("version")
        click.echo(f"rotation of {namespace}/{name} requested (version {version})")
        if not wait:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            current: dict[str, Any] = custom.get_namespaced_custom_object(  # type: ignore[assignment]
                GROUP, VERSION, namespace, "secrets", name
            )
            status = current.get("status") or {}
            if status.get("rotationRequest") == request:
                restarted = ", ".join(status.get("restarted") or []) or "none"
                click.echo(f"rotated: version {status.get('version')}, restarted: {restarted}")
                return
            degraded = [
                c
                for c in status.get("conditions", [])
                if c["type"] == "Degraded" and c["status"] == "True"
            ]
            if degraded:
                click.echo(f"  waiting: {degraded[0]['reason']}: {degraded[0]['message']}")
            time.sleep(1)
        click.echo(
            f"error: not rotated within {timeout}s; check `kubectl describe ksec {name} "
            f"-n {namespace}` and the operator log",
            err=True,
        )
        sys.exit(1)
