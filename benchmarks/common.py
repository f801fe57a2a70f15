"""What every benchmark shares: progress lines, quantiles, and its own servers.

A benchmark runs the stack's servers it needs in a state directory and port range of its own
(`<state>/<name>`, ports shifted by `port_offset`), so it never disturbs a running platform or
test session, and stops what it started, even when it fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager


def say(message: str) -> None:
    print(message, flush=True)


def quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@contextmanager
def bench_servers(
    name: str, *, port_offset: int, servers: Sequence[str]
) -> Iterator[dict[str, str]]:
    """Start the named stack servers for benchmark `name`; yields the KOMMERCE_* environment
    (also put in os.environ) and stops what it started on the way out."""
    from kommerce.paths import state_dir

    os.environ["KOMMERCE_STATE"] = str(state_dir() / name)
    os.environ["KOMMERCE_PORT_OFFSET"] = str(port_offset)
    from kommerce.runtime import orchestrate
    from kommerce.stack.config import environment
    from kommerce.stack.servers import servers as stack_servers

    wanted = [s for s in stack_servers() if s.name in servers]
    unknown = set(servers) - {s.name for s in wanted}
    if unknown:
        raise SystemExit(f"unknown stack servers {sorted(unknown)}; see `kommerce stack status`")
    started = orchestrate.up(wanted, say=say, what=f"{name} servers")
    try:
        env = environment()
        os.environ.update(env)
        yield env
    finally:
        orchestrate.down([s for s in wanted if s.name in started], say=say, what=name)
