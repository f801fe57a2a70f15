"""`kommerce saga show ID`: a saga's state and its history, from the orchestrator's database."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from typing import Any

import click


async def _show(url: str, schema: str, saga_id: uuid.UUID) -> dict[str, Any] | None:
    from kommerce.data.db import Database
    from kommerce.events.saga import show

    database = Database(url=url, schema=schema)
    try:
        async with database.session() as session:
            return await show(session, saga_id)
    finally:
        await database.close()


@click.group()
def saga() -> None:
    """Saga orchestration state (PostgreSQL)."""


@saga.command("show")
@click.argument("saga_id", type=click.UUID)
@click.option("--schema", required=True, help="The orchestrating service's schema, e.g. order.")
@click.option(
    "--database-url", envvar="KOMMERCE_DATABASE_URL", help="Default: KOMMERCE_DATABASE_URL."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show_command(saga_id: uuid.UUID, schema: str, database_url: str | None, as_json: bool) -> None:
    """Status, current step, data, and every transition with its time."""
    if not database_url:
        raise click.ClickException("no database: set KOMMERCE_DATABASE_URL or --database-url")
    url = database_url.replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        found = asyncio.run(_show(url, schema, saga_id))
    except OSError as exc:
        raise click.ClickException(f"cannot reach the database: {exc}") from exc
    if found is None:
        click.echo(f"error: no saga {saga_id} in schema {schema}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(found, default=str, indent=2))
        return
    click.echo(f"saga {found['id']} ({found['type']}): {found['status']}")
    click.echo(f"  step {found['step']} ({found['phase']}), attempt {found['attempt']}")
    if found.get("error"):
        click.echo(f"  error: {found['error']}")
    click.echo(f"  data: {json.dumps(found['data'], sort_keys=True)}")
    click.echo("  history:")
    for entry in found["log"]:
        detail = f" — {entry['detail']}" if entry["detail"] else ""
        click.echo(
            f"    {entry['at']:%Y-%m-%d %H:%M:%S} step {entry['step']} {entry['phase']:<10} "
            f"{entry['what']}{detail}"
        )
