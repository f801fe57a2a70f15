"""Start components in dependency order, roll back on failure; stop and report them.

Components whose dependencies are met start concurrently (the slow JVMs overlap). If any one
fails, every component this call started is stopped again, so a failed `up` leaves nothing
behind; components that were already running before the call are left alone. Used by both
`kommerce stack` and `kommerce cluster`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from kommerce.runtime import procs
from kommerce.runtime.component import Component
from kommerce.runtime.procs import ProcessError

Say = Callable[[str], None]


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    pid: int | None
    address: str
    healthy: bool
    rss_kib: int


class OrchestrationError(RuntimeError):
    pass


def select(every: list[Component], names: Sequence[str]) -> list[Component]:
    """The named components plus everything they need, in their original order."""
    if not names:
        return every
    by_name = {s.name: s for s in every}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise OrchestrationError(
            f"unknown server(s): {', '.join(unknown)}; known: {', '.join(by_name)}"
        )
    wanted: dict[str, Component] = {}

    def add(name: str) -> None:
        for dep in by_name[name].needs:
            add(dep)
        wanted[name] = by_name[name]

    for n in names:
        add(n)
    return [s for s in every if s.name in wanted]


def up(selected: list[Component], *, say: Say = print, what: str = "stack") -> list[str]:
    """Start the components. Returns the names this call started."""
    started: list[Component] = []
    pending = {s.name: s for s in selected}
    selected_names = set(pending)
    done: set[str] = set()
    t0 = time.monotonic()
    errors: list[str] = []
    with ThreadPoolExecutor(max_workers=len(selected) or 1) as pool:
        running: dict[str, Future[bool]] = {}
        while pending or running:
            for name, server in list(pending.items()):
                if all(d in done or d not in selected_names for d in server.needs):
                    del pending[name]
                    if errors:
                        continue
                    running[name] = pool.submit(_start_one, server, say)
            if not running:
                break
            finished = _wait_any(running)
            for name in finished:
                future = running.pop(name)
                try:
                    if future.result():
                        started.append(next(s for s in selected if s.name == name))
                    done.add(name)
                except ProcessError as exc:
                    errors.append(str(exc))
                    pending.clear()
                except Exception as exc:  # a bug or an OS error: still roll back, then report
                    errors.append(f"{name}: {type(exc).__name__}: {exc}")
                    pending.clear()
    if errors:
        say(f"{what} up failed; stopping what this call started ...")
        for server in reversed(started):
            procs.stop(server.pidfile, sig=server.stop_signal)
            say(f"  stopped {server.name}")
        raise OrchestrationError("\n".join(errors))
    say(f"{what} up: {len(selected)} component(s) healthy in {time.monotonic() - t0:.1f}s")
    return [s.name for s in started]


def _wait_any(running: dict[str, Future[bool]]) -> list[str]:
    while True:
        finished = [n for n, f in running.items() if f.done()]
        if finished:
            return finished
        time.sleep(0.1)


def _start_one(server: Component, say: Say) -> bool:
    if procs.running(server.pidfile):
        say(f"  {server.name:<12} already running on {server.address}")
        return False
    t0 = time.monotonic()
    say(f"  {server.name:<12} starting on {server.address} (log {server.log})")
    record = procs.start(server.spec())
    if server.after_start_fn:
        try:
            server.after_start_fn(server)
        except Exception:  # the process runs but is not set up: never leave it behind
            procs.stop(server.pidfile, sig=server.stop_signal)
            raise
    say(f"  {server.name:<12} healthy in {time.monotonic() - t0:.1f}s (pid {record.pid})")
    return True


def down(selected: list[Component], *, say: Say = print, what: str = "stack") -> int:
    """Stop the components in reverse order. Returns how many were running."""
    stopped = 0
    for server in reversed(selected):
        if procs.stop(server.pidfile, sig=server.stop_signal):
            stopped += 1
            say(f"  stopped {server.name}")
    say(f"{what} down: nothing was running" if stopped == 0 else f"{what} down: stopped {stopped}")
    return stopped


def status(every: list[Component]) -> list[ComponentStatus]:
    out = []
    for server in every:
        record = procs.running(server.pidfile)
        out.append(
            ComponentStatus(
                name=server.name,
                pid=record.pid if record else None,
                address=server.address,
                healthy=bool(record) and server.healthy(),
                rss_kib=procs.rss_kib(record.pid) if record else 0,
            )
        )
    return out
