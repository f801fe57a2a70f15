"""The pid/address/health/memory table `stack status` and `cluster status` both print."""

from __future__ import annotations

from collections.abc import Sequence

import click

from kommerce.runtime.orchestrate import ComponentStatus


def echo_status(rows: Sequence[ComponentStatus], *, heading: str) -> bool:
    """Print one line per component; True when every component is healthy."""
    width = max([len(heading), *(len(r.name) for r in rows)])
    click.echo(f"{heading:<{width}} {'pid':>8} {'address':<22} {'health':<10} {'rss':>8}")
    for r in rows:
        health = "healthy" if r.healthy else ("UNHEALTHY" if r.pid else "stopped")
        rss = f"{r.rss_kib // 1024}M" if r.pid else "-"
        click.echo(f"{r.name:<{width}} {r.pid or '-':>8} {r.address:<22} {health:<10} {rss:>8}")
    return all(r.healthy for r in rows)
