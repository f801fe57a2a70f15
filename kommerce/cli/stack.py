"""`kommerce stack up|down|status|env`: the backing servers as native processes."""

from __future__ import annotations

import shlex
import sys

import click

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
    rows = orchestrate.status(servers())
    click.echo(f"{'server':<12} {'pid':>8} {'address':<22} {'health':<10} {'rss':>8}")
    for r in rows:
        health = "healthy" if r.healthy else ("UNHEALTHY" if r.pid else "stopped")
        rss = f"{r.rss_kib // 1024}M" if r.pid else "-"
        click.echo(f"{r.name:<12} {r.pid or '-':>8} {r.address:<22} {health:<10} {rss:>8}")
    return all(r.healthy for r in rows)


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
