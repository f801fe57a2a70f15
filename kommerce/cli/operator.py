"""`kommerce operator run`: the Kopf operators, out of cluster, against the local cluster."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
import yaml

from kommerce.api.registry import CRD_DIR
from kommerce.kube import api_client, kubeconfig_from_env, wait_for
from kommerce.runtime import orchestrate
from kommerce.runtime.component import Component
from kommerce.runtime.orchestrate import OrchestrationError
from kommerce.runtime.probes import http_ok

PEERING = "kommerce"


def _kubeconfig() -> Path:
    configured = kubeconfig_from_env()
    if configured:
        return configured
    from kommerce.cluster.control_plane import kubeconfig_path

    return kubeconfig_path()


def install_crds(kubeconfig: Path) -> None:
    """Apply crds/ (server-side) and wait until every CRD is Established."""
    from kubernetes import client

    from operators.apply import Applier

    with api_client(kubeconfig) as api:
        applier = Applier(api)
        names = []
        for path in sorted(CRD_DIR.glob("*.yaml")):
            crd = yaml.safe_load(path.read_text())
            applier.apply_sync(crd)
            names.append(crd["metadata"]["name"])
        ext = client.ApiextensionsV1Api(api)

        def established(name: str) -> bool:
            crd = ext.read_custom_resource_definition(name)
            conds = crd.status.conditions if crd.status else None
            return any(c.type == "Established" and c.status == "True" for c in conds or [])

        try:
            wait_for(
                lambda: all(established(n) for n in names),
                timeout=60,
                what=f"CRDs {', '.join(names)} to be Established",
            )
        except TimeoutError as exc:
            raise click.ClickException(str(exc)) from exc
        applier.apply_sync(
            {
                "apiVersion": "kopf.dev/v1",
                "kind": "ClusterKopfPeering",
                "metadata": {"name": PEERING},
            }
        )


def supervised() -> Component:
    """The operator as a background process of the local platform (`operator up|down`)."""
    from kommerce.paths import state_dir
    from kommerce.stack.config import environment, port_offset

    metrics_port = 18090 + port_offset()
    webhook_port = 18443 + port_offset()
    return Component(
        name="operator",
        base=state_dir() / "platform",
        ports=(metrics_port, webhook_port),
        argv_fn=lambda c: [
            sys.executable,
            "-m",
            "kommerce.cli",
            "operator",
            "run",
            "--metrics-port",
            str(metrics_port),
            "--admission",
            "--webhook-port",
            str(webhook_port),
        ],
        # The local platform's operator creates databases and topics on the local stack.
        # It logs in to OpenBao with the Kubernetes auth method: no admin token is handed over.
        env_fn=lambda c: {
            **{k: v for k, v in environment().items() if k != "KOMMERCE_VAULT_TOKEN"},
            "KUBECONFIG": str(_kubeconfig()),
            "KOMMERCE_VAULT_AUTH": "kubernetes",
        },
        health_fn=lambda c: http_ok(f"http://127.0.0.1:{metrics_port}/metrics"),
        start_timeout=90,
    )


@click.group()
def operator() -> None:
    """The Kopf operators that reconcile kommerce.io resources."""


@operator.command("up")
def up() -> None:
    """Start the operator in the background (logs under the state dir); idempotent."""
    try:
        orchestrate.up([supervised()], say=click.echo, what="operator")
    except OrchestrationError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


@operator.command("down")
def down() -> None:
    """Stop the background operator."""
    orchestrate.down([supervised()], say=click.echo, what="operator")


@operator.command("install-crds")
def install_crds_command() -> None:
    """Apply crds/ to the cluster and wait until they are served."""
    kubeconfig = _kubeconfig()
    install_crds(kubeconfig)
    click.echo(f"CRDs installed ({kubeconfig})")


@operator.command("run")
@click.option(
    "--peering/--no-peering",
    default=True,
    show_default=True,
    help="Coordinate with other replicas so only one is active.",
)
@click.option("--priority", type=int, default=0, help="Peering priority (highest is active).")
@click.option(
    "--metrics-port",
    type=int,
    default=8090,
    show_default=True,
    help="Prometheus metrics on 127.0.0.1 (0: off).",
)
@click.option("--namespace", "namespaces", multiple=True, help="Watch only these namespaces.")
@click.option(
    "--install-crds/--no-install-crds",
    "crds_first",
    default=True,
    show_default=True,
    help="Apply crds/ before starting.",
)
@click.option("--log-level", default="INFO", show_default=True)
@click.option(
    "--admission/--no-admission",
    default=False,
    show_default=True,
    help="Serve the Policy admission webhook and register it (ValidatingWebhookConfiguration).",
)
@click.option("--webhook-port", type=int, default=9443, show_default=True, help="Webhook port.")
@click.option(
    "--webhook-url",
    default=None,
    help="URL the API server calls (default https://127.0.0.1:<port>, for the local cluster).",
)
@click.option(
    "--webhook-service",
    default=None,
    metavar="NAMESPACE/NAME",
    help="In a cluster: the Service in front of the operator's webhook port (instead of a URL).",
)
@click.option(
    "--kommerce-failure-policy",
    type=click.Choice(["Fail", "Ignore"]),
    default="Fail",
    show_default=True,
    help="kommerce.io resources when the webhook cannot answer.",
)
@click.option(
    "--workload-failure-policy",
    type=click.Choice(["Fail", "Ignore"]),
    default="Ignore",
    show_default=True,
    help="Deployments, StatefulSets, DaemonSets and Pods when the webhook cannot answer.",
)
@click.option(
    "--audit-interval",
    type=float,
    default=60.0,
    show_default=True,
    help="Seconds between audits of existing objects against each active Policy.",
)
def run(
    peering: bool,
    priority: int,
    metrics_port: int,
    namespaces: tuple[str, ...],
    crds_first: bool,
    log_level: str,
    admission: bool,
    webhook_port: int,
    webhook_url: str | None,
    webhook_service: str | None,
    kommerce_failure_policy: str,
    workload_failure_policy: str,
    audit_interval: float,
) -> None:
    """Run the operators in the foreground (SIGTERM/Ctrl-C stops them gracefully)."""
    import kopf

    kubeconfig = _kubeconfig()
    if not kubeconfig.exists():
        click.echo(
            f"error: no kubeconfig at {kubeconfig}; start the local cluster with "
            "`kommerce cluster up` or set KUBECONFIG",
            err=True,
        )
        sys.exit(1)
    os.environ["KUBECONFIG"] = str(kubeconfig)
    if crds_first:
        install_crds(kubeconfig)
    import operators.policy.handlers
    import operators.runtime
    import operators.secret.handlers
    import operators.service.handlers  # noqa: F401 - importing registers the handlers

    kopf.run(
        clusterwide=not namespaces,
        namespaces=namespaces,
        standalone=not peering,
        peering_name=PEERING if peering else None,
        priority=priority,
        memo=kopf.Memo(
            options={
                "peering": peering,
                "metrics_port": metrics_port,
                "log_level": log_level,
                "admission": admission,
                "webhook_port": webhook_port,
                "webhook_url": webhook_url,
                "webhook_service": webhook_service,
                "kommerce_failure_policy": kommerce_failure_policy,
                "workload_failure_policy": workload_failure_policy,
                "audit_interval": audit_interval,
            }
        ),
    )
