"""`kommerce events ...`: operational commands of the event backbone (relay, DLQ, replay)."""

from __future__ import annotations

import click

from kommerce.cli.events_dlq import dlq, replay
from kommerce.cli.events_relay import relay


@click.group()
def events() -> None:
    """Outbox relay, dead-letter inspection and replay, consumer-group replay."""


events.add_command(relay)
events.add_command(dlq)
events.add_command(replay)
