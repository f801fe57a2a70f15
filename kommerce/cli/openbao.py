"""`kommerce openbao bootstrap|status`: set up OpenBao for the platform (admin, idempotent)."""

from __future__ import annotations

import os
import sys
from typing import Any

import click


@click.group()
def openbao() -> None:
    """OpenBao set-up: secrets engines, the operator's policy and Kubernetes auth."""


def _admin_client() -> Any:
    import hvac

    addr, token = os.environ.get("KOMMERCE_VAULT_ADDR"), os.environ.get("KOMMERCE_VAULT_TOKEN")
    if not addr or not token:
        from kommerce.stack.config import environment

        env = environment()  # the local stack's address and dev root token
        addr, token = addr or env["KOMMERCE_VAULT_ADDR"], token or env["KOMMERCE_VAULT_TOKEN"]
    return hvac.Client(url=addr, token=token, timeout=10)


def _postgres_admin_url() -> str:
    configured = os.environ.get("KOMMERCE_VAULT_DB_ADMIN_URL")
    if configured:
        return configured
    from kommerce.stack.config import credentials, port

    password = credentials().postgres_password
    return f"postgresql://postgres:{password}@127.0.0.1:{port('postgres')}/postgres"


@openbao.command("bootstrap")
@click.option(
    "--kubernetes-host",
    default=None,
    help="API server URL OpenBao calls for TokenReview (default: from the kubeconfig).",
)
def bootstrap_command(kubernetes_host: str | None) -> None:
    """Enable kv/database/pki/transit, the operator policy and Kubernetes auth (idempotent).

    Uses KOMMERCE_VAULT_ADDR/KOMMERCE_VAULT_TOKEN (an admin token; default: the local stack's
    dev root token) and KOMMERCE_VAULT_DB_ADMIN_URL (default: the local stack's PostgreSQL
    superuser, which only OpenBao keeps).
    """
    import requests

    from kommerce.cli.operator import _kubeconfig
    from kommerce.kube import api_client
    from kommerce.openbao.bootstrap import BootstrapConfig, bootstrap, kube_connection

    bao = _admin_client()
    kubeconfig = _kubeconfig()
    if not kubeconfig.exists():
        raise click.ClickException(
            f"no kubeconfig at {kubeconfig}; start the cluster (`kommerce cluster up`) first"
        )
    click.echo(f"==> configuring OpenBao at {bao.url} for the cluster in {kubeconfig}")
    with api_client(kubeconfig) as kube:
        host, ca = kube_connection(kube)
        config = BootstrapConfig(
            postgres_admin_url=_postgres_admin_url(),
            kubernetes_host=kubernetes_host or host,
            kubernetes_ca_pem=ca,
        )
        try:
            bootstrap(bao, config, kube=kube, say=click.echo)
        except requests.ConnectionError as exc:
            click.echo(
                f"error: OpenBao unreachable: {exc}\nStart it with `kommerce stack up`.", err=True
            )
            sys.exit(1)
    click.echo("OpenBao ready: operators log in with the Kubernetes auth method")


@openbao.command("status")
def status_command() -> None:
    """Whether OpenBao is reachable, unsealed, and bootstrapped."""
    import requests

    bao = _admin_client()
    try:
        sealed = bao.sys.is_sealed()
        mounts = bao.sys.list_mounted_secrets_engines()
    except requests.ConnectionError as exc:
        click.echo(f"OpenBao unreachable: {exc}", err=True)
        sys.exit(1)
    present = sorted(k.rstrip("/") for k in mounts.get("data", mounts))
    click.echo(f"sealed: {sealed}; secrets engines: {', '.join(present)}")
