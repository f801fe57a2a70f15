"""A small supervisor for long-running native processes.

There is no container engine on the machines that build Kommerce, so every backing server is a
plain process. Each one is started in its own session (so the CLI can exit and the server
keeps running, and so stopping it takes its whole process group), logs to a file, and is
recorded in a pid file together with its start time: a pid that was recycled by an unrelated
process is never mistaken for ours, and `down` stops exactly what `up` started.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HealthCheck = Callable[[], bool]


class ProcessError(RuntimeError):
    """A process could not be started or did not become healthy; the message says what to do."""


@dataclass(frozen=True)
class ProcessSpec:
    """Everything needed to start one supervised process."""

    name: str
    argv: Sequence[str]
    log: Path
    pidfile: Path
    ports: Sequence[int] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    user: str | None = None
    health: HealthCheck | None = None
    start_timeout: float = 60.0


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something already listens on host:port (or the port cannot be bound)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        if sock.connect_ex((host, port)) == 0:
            return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Like the servers themselves: a socket in TIME_WAIT from a stopped server is no owner.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


@dataclass(frozen=True)
class RunAs:
    uid: int
    gid: int
    home: str

    def popen_kwargs(self) -> dict[str, Any]:
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def run_as(user: str | None) -> RunAs | None:
    """The ids to drop to when running as root for `user` (None: run as ourselves)."""
    if not user or os.geteuid() != 0:
        return None
    entry = pwd.getpwnam(user)
    return RunAs(uid=entry.pw_uid, gid=entry.pw_gid, home=entry.pw_dir)


def tcp_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _proc_start_ticks(pid: int) -> str | None:
    """The kernel's start time of pid (field 22 of /proc/PID/stat), or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may contain spaces: split after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # a zombie is dead for our purposes
        return None
    return fields[19]


@dataclass(frozen=True)
class PidRecord:
    pid: int
    started: str
    argv: list[str]

    def alive(self) -> bool:
        return _proc_start_ticks(self.pid) == self.started


def read_pidfile(path: Path) -> PidRecord | None:
    try:
        data = json.loads(path.read_text())
        return PidRecord(pid=int(data["pid"]), started=str(data["started"]), argv=data["argv"])
    except (OSError, ValueError, KeyError):
        return None


def tail(path: Path, lines: int = 15) -> str:
    try:
        content = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log written)"
    return "\n".join(content[-lines:])


def running(spec_pidfile: Path) -> PidRecord | None:
    record = read_pidfile(spec_pidfile)
    return record if record and record.alive() else None


def start(spec: ProcessSpec) -> PidRecord:
    """Start spec's process detached, wait until healthy, and record it. Raises ProcessError."""
    existing = running(spec.pidfile)
    if existing:
        return existing
    busy = [p for p in spec.ports if port_in_use(p)]
    if busy:
        raise ProcessError(
            f"{spec.name}: port {', '.join(map(str, busy))} on 127.0.0.1 is already in use. "
            f"Stop whatever listens there (`ss -ltnp 'sport = :{busy[0]}'` shows it) "
            "or choose other ports with KOMMERCE_PORT_OFFSET."
        )
    spec.log.parent.mkdir(parents=True, exist_ok=True)
    spec.pidfile.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **spec.env}
    ids = run_as(spec.user)
    if ids:
        env["HOME"] = ids.home
    with spec.log.open("ab") as log:
        log.write(f"\n--- kommerce: starting {spec.name} at {time.ctime()}\n".encode())
        log.flush()
        try:
            proc = subprocess.Popen(
                list(spec.argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=spec.cwd,
                start_new_session=True,
                **(ids.popen_kwargs() if ids else {}),
            )
        except FileNotFoundError as exc:
            raise ProcessError(
                f"{spec.name}: executable not found: {spec.argv[0]}. "
                "Run `kommerce tools install` (or `kommerce doctor` to see what is missing)."
            ) from exc
    started = _proc_start_ticks(proc.pid) or ""
    record = PidRecord(pid=proc.pid, started=started, argv=list(spec.argv))
    spec.pidfile.write_text(json.dumps({"pid": proc.pid, "started": started, "argv": record.argv}))
    deadline = time.monotonic() + spec.start_timeout
    while True:
        code = proc.poll()
        if code is not None:
            spec.pidfile.unlink(missing_ok=True)
            raise ProcessError(
                f"{spec.name} exited with code {code} while starting. Log: {spec.log}\n"
                f"{tail(spec.log)}"
            )
        if spec.health is None or _safe(spec.health):
            return record
        if time.monotonic() > deadline:
            stop(spec.pidfile)
            raise ProcessError(
                f"{spec.name} did not become healthy within {spec.start_timeout:.0f}s "
                f"and was stopped. Log: {spec.log}\n{tail(spec.log)}"
            )
        time.sleep(0.25)


def _safe(check: HealthCheck) -> bool:
    try:
        return check()
    except Exception:
        return False


def stop(pidfile: Path, *, timeout: float = 20.0, sig: int = signal.SIGTERM) -> bool:
    """Stop the process group recorded in pidfile (`sig`, then SIGKILL after `timeout`).

    Returns False if nothing was running.
    """
    record = read_pidfile(pidfile)
    if record is None or not record.alive():
        pidfile.unlink(missing_ok=True)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(record.pid, sig)
    deadline = time.monotonic() + timeout
    while record.alive() and time.monotonic() < deadline:
        _reap(record.pid)
        time.sleep(0.1)
    if record.alive():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(record.pid, signal.SIGKILL)
        while record.alive() and time.monotonic() < deadline + 5:
            _reap(record.pid)
            time.sleep(0.1)
    # Children that left the group (none of ours do) would survive; the group is gone now.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(record.pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    """Collect our own child's exit status so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def rss_kib(pid: int) -> int:
    """Resident set size of pid and all its descendants, in KiB."""
    total = 0
    for p in [pid, *_descendants(pid)]:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    out: list[int] = []
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            out.append(child)
            stack.append(child)
    return out
