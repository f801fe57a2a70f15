"""`kommerce events relay`: run a service's outbox relay as a standalone process."""

from __future__ import annotations

import asyncio
import re
import signal
import sys

import click

_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")  # as kommerce.data.db accepts


def _database_url(explicit: str | None) -> str:
    from kommerce.settings import KommerceSettings

    if explicit:
        return explicit.replace("postgresql://", "postgresql+asyncpg://", 1)
    return KommerceSettings().async_database_url()


def _bootstrap(explicit: str | None) -> str:
    from kommerce.settings import KommerceSettings

    value = explicit or KommerceSettings().kafka_bootstrap
    if not value:
        raise click.UsageError(
            "no Kafka bootstrap: pass --bootstrap or set KOMMERCE_KAFKA_BOOTSTRAP "
            "(`eval $(kommerce stack env)`)"
        )
    return value


@click.command("relay")
@click.option("--schema", required=True, help="The service's PostgreSQL schema (its outbox).")
@click.option("--database-url", help="PostgreSQL URL [default: $KOMMERCE_DATABASE_URL].")
@click.option("--bootstrap", help="Kafka host:port [default: $KOMMERCE_KAFKA_BOOTSTRAP].")
@click.option("--metrics-port", type=click.IntRange(1, 65535), help="Serve /metrics on this port.")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=500, show_default=True)
@click.option("--poll-interval", type=click.FloatRange(0.01, 60), default=0.2, show_default=True)
def relay(
    schema: str,
    database_url: str | None,
    bootstrap: str | None,
    metrics_port: int | None,
    batch_size: int,
    poll_interval: float,
) -> None:
    """Publish SCHEMA's outbox to Kafka until SIGTERM/SIGINT (then finish the current batch)."""
    if not _SCHEMA.match(schema):
        raise click.BadParameter(f"not a valid schema name: {schema!r}", param_hint="--schema")
    try:
        url = _database_url(database_url)
    except RuntimeError as exc:
        raise click.UsageError(str(exc)) from exc
    servers = _bootstrap(bootstrap)
    sys.exit(asyncio.run(_run(schema, url, servers, metrics_port, batch_size, poll_interval)))


async def _run(
    schema: str,
    url: str,
    bootstrap: str,
    metrics_port: int | None,
    batch_size: int,
    poll_interval: float,
) -> int:
    from prometheus_client import CollectorRegistry, start_http_server

    from kommerce.events.relay import Relay

    registry = CollectorRegistry()
    if metrics_port is not None:
        start_http_server(metrics_port, addr="127.0.0.1", registry=registry)
        click.echo(f"metrics on http://127.0.0.1:{metrics_port}/metrics")
    relay = Relay(
        database_url=url,
        schema=schema,
        bootstrap=bootstrap,
        batch_size=batch_size,
        poll_interval=poll_interval,
        registry=registry,
        say=lambda line: click.echo(line),
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, relay.request_stop)
    click.echo(f"relay {schema}: started (Kafka {bootstrap})")
    await relay.run()
    click.echo(f"relay {schema}: stopped after publishing {relay.published_total}")
    return 0
