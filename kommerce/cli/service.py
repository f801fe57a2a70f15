"""`kommerce service run NAME [--port N]` and `kommerce service list`."""

from __future__ import annotations

import sys

import click

from kommerce.services import UnknownService, app_factory, service_names, settings_class


@click.group()
def service() -> None:
    """Run Kommerce services as local processes against the stack."""


@service.command("list")
def list_services() -> None:
    """List the services in services/."""
    for name in service_names():
        click.echo(name)


@service.command("run")
@click.argument("name")
@click.option("--port", type=int, default=None, help="Port on 127.0.0.1 (default: the service's).")
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1).")
def run(name: str, port: int | None, host: str | None) -> None:
    """Run service NAME in the foreground (Ctrl-C or SIGTERM drains and stops it)."""
    import uvicorn
    from pydantic import ValidationError

    try:
        factory = app_factory(name)
        overrides = {k: v for k, v in {"port": port, "host": host}.items() if v is not None}
        settings = settings_class(name)(**overrides)
    except UnknownService as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except ValidationError as exc:
        click.echo(f"error: invalid settings for {name}:\n{exc}", err=True)
        click.echo(
            "Set them in the environment (`eval $(kommerce stack env)` for the stack).", err=True
        )
        sys.exit(2)
    app = factory(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        timeout_graceful_shutdown=int(settings.shutdown_timeout_seconds),
        proxy_headers=False,
    )
