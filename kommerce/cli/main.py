"""The `kommerce` command: one entry point for tools, the local stack, the cluster and services."""

from __future__ import annotations

import click

from kommerce.cli.catalog import catalog
from kommerce.cli.cluster import cluster
from kommerce.cli.crds import crds
from kommerce.cli.doctor import doctor
from kommerce.cli.events import events
from kommerce.cli.openbao import openbao
from kommerce.cli.operator import operator
from kommerce.cli.policy import policy
from kommerce.cli.saga import saga
from kommerce.cli.schemas import schemas
from kommerce.cli.secret import secret
from kommerce.cli.secrets import secrets
from kommerce.cli.service import service
from kommerce.cli.stack import stack
from kommerce.cli.tools import tools


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kommerce")
def cli() -> None:
    """Kommerce: a commerce platform declared as Kubernetes YAML."""


cli.add_command(tools)
cli.add_command(stack)
cli.add_command(cluster)
cli.add_command(service)
cli.add_command(doctor)
cli.add_command(crds)
cli.add_command(operator)
cli.add_command(policy)
cli.add_command(openbao)
cli.add_command(secret)
cli.add_command(events)
cli.add_command(schemas)
cli.add_command(saga)
cli.add_command(secrets)
cli.add_command(catalog)


def main() -> None:
    cli()
