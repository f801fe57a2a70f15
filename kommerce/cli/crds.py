"""`kommerce crds generate [--check]`: CRD YAML in crds/ from the pydantic models."""

from __future__ import annotations

import sys

import click

from kommerce.api import registry
from kommerce.paths import REPO_ROOT


@click.group()
def crds() -> None:
    """Custom resource definitions of kommerce.io."""


@crds.command("generate")
@click.option("--check", is_flag=True, help="Exit 1 if crds/ is stale instead of writing.")
def generate(check: bool) -> None:
    """Write crds/*.yaml from kommerce/api (or check they are up to date)."""
    if check:
        stale = registry.stale()
        for path in stale:
            click.echo(f"stale: {path.relative_to(REPO_ROOT)}", err=True)
        if stale:
            click.echo("run `kommerce crds generate` and commit the result", err=True)
            sys.exit(1)
        click.echo("crds/ is up to date")
        return
    changed = registry.write()
    for path in changed:
        click.echo(f"wrote {path.relative_to(REPO_ROOT)}")
    if not changed:
        click.echo("crds/ is up to date")
