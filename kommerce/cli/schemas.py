"""`kommerce schemas list|check`: the Avro event schemas in schemas/ and their compatibility."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kommerce.events.schemas import SCHEMA_ROOT, Registry, SchemaError


def _load(root: Path) -> Registry:
    try:
        return Registry.load(root)
    except (SchemaError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


@click.group()
def schemas() -> None:
    """Avro event schemas: one subject per event type, versioned (schemas/)."""


ROOT = click.option(
    "--root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=SCHEMA_ROOT,
    show_default=True,
    help="Directory of subjects.",
)


@schemas.command("list")
@ROOT
def list_command(root: Path) -> None:
    """Subjects, their topic, mode, versions and the latest fingerprint."""
    registry = _load(root)
    click.echo(f"{'SUBJECT':<28} {'TOPIC':<32} {'MODE':<9} {'VERSIONS':<8} FINGERPRINT")
    for subject in registry.subjects.values():
        click.echo(
            f"{subject.name:<28} {subject.topic:<32} {subject.compatibility.value:<9} "
            f"{len(subject.versions):<8} {subject.latest.fingerprint_hex}"
        )


@schemas.command("check")
@ROOT
def check_command(root: Path) -> None:
    """Check every version against every earlier one; exit 1 naming each breaking field."""
    report = _load(root).check()
    broken = {name: problems for name, problems in report.items() if problems}
    for name, problems in report.items():
        click.echo(f"{'FAIL' if problems else 'ok  '} {name}")
        for problem in problems:
            click.echo(f"       {problem}")
    if broken:
        click.echo(
            f"error: {len(broken)} subject(s) have incompatible versions; add defaults, keep "
            "removed fields optional, or publish a new major topic (see docs/events.md)",
            err=True,
        )
        sys.exit(1)
    click.echo(f"{len(report)} subject(s) compatible")
