"""`kommerce tools install|status|path`: the pinned third-party tools in the version cache."""

from __future__ import annotations

import sys

import click

from kommerce.paths import tools_dir
from kommerce.tools.catalog import UnknownTool, load_catalog, tool_path
from kommerce.tools.install import InstallError, install_all


@click.group()
def tools() -> None:
    """Third-party tools (kube-apiserver, etcd, kwok, opa, helm, Kafka, ...), pinned."""


@tools.command("install")
@click.argument("names", nargs=-1)
def install(names: tuple[str, ...]) -> None:
    """Install missing tools (all, or the NAMES given). Idempotent."""
    try:
        install_all(names)
    except InstallError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


@tools.command("status")
def status() -> None:
    """Show each tool's version, whether it is installed, and where."""
    catalog = load_catalog()
    click.echo(f"tool cache: {tools_dir()}")
    missing = 0
    for tool in catalog.values():
        ok = tool.installed()
        missing += not ok
        where = tool.home if tool.kind != "apt" else ", ".join(tool.apt_packages)
        click.echo(
            f"  {'ok     ' if ok else 'MISSING'} {tool.name:<12} {tool.version:<10} "
            f"{tool.kind:<10} {where}"
        )
    if missing:
        click.echo(f"{missing} tool(s) missing: run `kommerce tools install`")
        sys.exit(1)


@tools.command("path")
@click.argument("name")
def path(name: str) -> None:
    """Print the executable path of tool NAME (e.g. kube-apiserver, bao, promtool)."""
    try:
        found = tool_path(name)
    except UnknownTool as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    if not found.exists():
        click.echo(
            f"error: {name} is not installed at {found}; run `kommerce tools install`", err=True
        )
        sys.exit(1)
    click.echo(str(found))
