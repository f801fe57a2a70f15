"""A supervised component: how one native process is prepared, started, checked and stopped.

The local stack and the local control plane are both lists of components; `orchestrate` starts
them in dependency order. Keeping the per-component facts in one record (ports, health check,
one-time setup) is what lets `status` and `down` work without knowing what each one is.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kommerce.runtime.procs import ProcessSpec, tcp_open


@dataclass
class Component:
    name: str
    base: Path
    ports: tuple[int, ...]
    needs: tuple[str, ...] = ()
    start_timeout: float = 60.0
    user: str | None = None
    prepare_fn: Callable[[Component], None] | None = None
    argv_fn: Callable[[Component], list[str]] = field(default=lambda s: [])
    env_fn: Callable[[Component], dict[str, str]] = field(default=lambda s: {})
    health_fn: Callable[[Component], bool] = field(default=lambda s: tcp_open(s.port))
    after_start_fn: Callable[[Component], None] | None = None
    stop_signal: int = signal.SIGTERM  # e.g. SIGINT: PostgreSQL's fast shutdown

    @property
    def root(self) -> Path:
        return self.base / self.name

    @property
    def port(self) -> int:
        return self.ports[0]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.base / "logs" / f"{self.name}.log"

    @property
    def pidfile(self) -> Path:
        return self.base / "run" / f"{self.name}.pid"

    def healthy(self) -> bool:
        try:
            return self.health_fn(self)
        except Exception:
            return False

    def spec(self) -> ProcessSpec:
        self.root.mkdir(parents=True, exist_ok=True)
        if self.prepare_fn:
            self.prepare_fn(self)
        return ProcessSpec(
            name=self.name,
            argv=self.argv_fn(self),
            log=self.log,
            pidfile=self.pidfile,
            ports=self.ports,
            env=self.env_fn(self),
            cwd=self.root,
            user=self.user,
            health=self.healthy,
            start_timeout=self.start_timeout,
        )
