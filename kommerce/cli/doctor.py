"""`kommerce doctor`: what this machine lacks to run Kommerce, and the command that fixes it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import click

from kommerce.cluster import control_plane as cp
from kommerce.paths import state_dir, tools_dir
from kommerce.runtime import procs
from kommerce.stack import config
from kommerce.stack.servers import servers
from kommerce.tools.catalog import load_catalog


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (out.stdout + out.stderr).strip()


def _at_least(text: str, pattern: str, minimum: tuple[int, ...]) -> bool:
    match = re.search(pattern, text)
    return match is not None and tuple(int(g) for g in match.groups()) >= minimum


def checks() -> Iterator[Check]:
    py = sys.version_info
    yield Check(
        "python",
        py[:2] == (3, 11),
        f"{py.major}.{py.minor}.{py.micro}",
        "install Python 3.11 and re-run `make venv`",
    )
    go = _version(["go", "version"])
    yield Check(
        "go",
        _at_least(go, r"go(\d+)\.(\d+)", (1, 26)),
        go or "not found",
        "install Go 1.26+ (https://go.dev/doc/install) and put it on PATH",
    )
    java = _version(["java", "-version"])
    yield Check(
        "java",
        _at_least(java, r'version "(\d+)', (17,)),
        java.splitlines()[0] if java else "not found",
        "apt-get install -y openjdk-17-jre-headless",
    )
    mvn = shutil.which("mvn")
    yield Check("maven", bool(mvn), mvn or "not found", "apt-get install -y maven")
    for tool in load_catalog().values():
        yield Check(
            f"tool {tool.name}",
            tool.installed(),
            f"{tool.version} ({tool.kind})",
            f"kommerce tools install {tool.name}",
        )
    places = (
        (state_dir(), "state dir", "KOMMERCE_STATE"),
        (tools_dir(), "tool cache", "KOMMERCE_TOOLS"),
    )
    for path, what, env_name in places:
        path.mkdir(parents=True, exist_ok=True)
        yield Check(
            what,
            os.access(path, os.W_OK),
            str(path),
            f"make {path} writable or point {env_name} elsewhere",
        )
    ours = {c.name for c in [*servers(), *cp.components()] if procs.running(c.pidfile)}
    for component in [*servers(), *cp.components()]:
        for port in component.ports:
            if component.name in ours:
                continue
            busy = procs.port_in_use(port)
            yield Check(
                f"port {port} ({component.name})",
                not busy,
                "in use by another process" if busy else "free",
                f"stop what listens on {port} (ss -ltnp 'sport = :{port}') or set "
                f"KOMMERCE_PORT_OFFSET (now {config.port_offset()})",
            )


@click.command()
def doctor() -> None:
    """Check python, go, java, tools, state dir and ports; print how to fix what is missing."""
    failed = 0
    for check in checks():
        mark = "ok  " if check.ok else "FAIL"
        click.echo(f"[{mark}] {check.name:<34} {check.detail}")
        if not check.ok:
            failed += 1
            click.echo(f"       fix: {check.fix}")
    click.echo("everything needed is here" if not failed else f"{failed} problem(s) found")
    sys.exit(1 if failed else 0)
