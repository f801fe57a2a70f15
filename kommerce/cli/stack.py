"""`kommerce stack up|down|status|env`: the backing servers as native processes."""

from __future__ import annotations

import shlex
import sys

import click

from kommerce.cli.status_table import echo_status
from kommerce.runtime import orchestrate
from kommerce.runtime.orchestrate import OrchestrationError
from kommerce.stack import config
from kommerce.stack.servers import servers


@click.group()
def stack() -> None:
    """The local stack: PostgreSQL, Redis, Kafka, RabbitMQ, OpenBao, OPA, Prometheus, ..."""


@stack.command("up")
@click.argument("names", nargs=-1)
def up(names: tuple[str, ...]) -> None:
    """Start the stack (or only NAMES and what they need). Idempotent."""
    try:
        orchestrate.up(orchestrate.select(servers(), names), say=click.echo)
    except OrchestrationError as exc:
        click.echo(f"error: {exc}", err=True)
        click.echo(
            "Fix the cause above, then run `kommerce stack up` again "
            "(`kommerce doctor` checks tools and ports).",
            err=True,
        )
        sys.exit(1)
    _print_status()


@stack.command("down")
@click.argument("names", nargs=-1)
def down(names: tuple[str, ...]) -> None:
    """Stop what `up` started."""
    try:
        orchestrate.down(orchestrate.select(servers(), names), say=click.echo)
    except OrchestrationError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


def _print_status() -> bool:
    return echo_status(orchestrate.status(servers()), heading="server")


@stack.command("status")
def status() -> None:
    """Each server's pid, address, health and memory. Exit 1 unless all are healthy."""
    if not _print_status():
        sys.exit(1)


@stack.command("env")
def env() -> None:
    """Print `export NAME=value` lines for the stack's connection settings."""
    for name, value in config.environment().items():
        click.echo(f"export {name}={shlex.quote(value)}")
