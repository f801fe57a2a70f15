"""`kommerce events ...`: operational commands of the event backbone (relay, DLQ, replay)."""

from __future__ import annotations

import click


@click.group()
def events() -> None:
    """Outbox relay, dead-letter inspection and replay, consumer-group replay."""
