"""`kommerce cluster up|down|status|kubeconfig`: a real control plane with kwok nodes."""

from __future__ import annotations

import sys

import click

from kommerce.cli.status_table import echo_status
from kommerce.cluster import control_plane as cp
from kommerce.cluster import manager
from kommerce.runtime import orchestrate
from kommerce.runtime.orchestrate import OrchestrationError


@click.group()
def cluster() -> None:
    """Local Kubernetes: etcd, kube-apiserver, controller-manager, scheduler, kwok nodes."""


@cluster.command("up")
def up() -> None:
    """Start the control plane and kwok nodes (KOMMERCE_CLUSTER_NODES, default 3)."""
    try:
        manager.up(say=click.echo)
    except (OrchestrationError, TimeoutError, ValueError) as exc:
        click.echo(f"error: {exc}", err=True)
        click.echo(
            f"Logs are in {cp.cluster_root() / 'logs'}; `kommerce doctor` checks tools and ports.",
            err=True,
        )
        sys.exit(1)


@cluster.command("down")
def down() -> None:
    """Stop every control plane process (data is kept for the next `up`)."""
    manager.down(say=click.echo)


@cluster.command("status")
def status() -> None:
    """Each component's pid and health, the server version and nodes. Exit 1 unless healthy."""
    all_healthy = echo_status(orchestrate.status(cp.components()), heading="component")
    info = manager.info_or_none()
    if info:
        click.echo(
            f"server {info.version}; nodes {info.ready_nodes}/{info.nodes} Ready; "
            f"kubeconfig {cp.kubeconfig_path()}"
        )
    if not (info and all_healthy):
        sys.exit(1)


@cluster.command("kubeconfig")
def kubeconfig() -> None:
    """Print the admin kubeconfig path (export KUBECONFIG=$(kommerce cluster kubeconfig))."""
    click.echo(str(cp.kubeconfig_path()))
