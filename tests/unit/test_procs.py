from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from kommerce.runtime import procs
from kommerce.runtime.procs import ProcessError, ProcessSpec

pytestmark = pytest.mark.unit


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spec(tmp_path: Path, argv: list[str], **kw: object) -> ProcessSpec:
    return ProcessSpec(
        name="t", argv=argv, log=tmp_path / "t.log", pidfile=tmp_path / "t.pid", **kw
    )  # type: ignore[arg-type]


def test_start_records_and_stop_removes(tmp_path: Path) -> None:
    spec = _spec(tmp_path, [sys.executable, "-c", "import time; time.sleep(60)"])
    record = procs.start(spec)
    assert record.alive()
    assert procs.running(spec.pidfile) == record
    assert procs.stop(spec.pidfile) is True
    assert not record.alive()
    assert not spec.pidfile.exists()
    assert procs.stop(spec.pidfile) is False


def test_exit_during_start_reports_log(tmp_path: Path) -> None:
    spec = _spec(
        tmp_path,
        [sys.executable, "-c", "print('bad config line 3'); raise SystemExit(3)"],
        health=lambda: False,
    )
    with pytest.raises(ProcessError, match=r"exited with code 3[\s\S]*bad config line 3"):
        procs.start(spec)
    assert not spec.pidfile.exists()


def test_unhealthy_process_is_stopped_after_timeout(tmp_path: Path) -> None:
    spec = _spec(
        tmp_path,
        [sys.executable, "-c", "import time; time.sleep(60)"],
        health=lambda: False,
        start_timeout=0.5,
    )
    with pytest.raises(ProcessError, match="did not become healthy"):
        procs.start(spec)
    assert procs.running(spec.pidfile) is None


def test_port_in_use_is_refused_before_starting(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        spec = _spec(tmp_path, [sys.executable, "-c", "pass"], ports=[port])
        with pytest.raises(ProcessError, match=f"port {port} .* already in use"):
            procs.start(spec)


def test_missing_executable_says_how_to_fix(tmp_path: Path) -> None:
    spec = _spec(tmp_path, [str(tmp_path / "nope")], ports=[_free_port()])
    with pytest.raises(ProcessError, match="kommerce tools install"):
        procs.start(spec)


def test_recycled_pid_is_not_ours(tmp_path: Path) -> None:
    pidfile = tmp_path / "x.pid"
    # pid 1 exists, but was not started at the recorded time: it must not be treated as ours.
    pidfile.write_text('{"pid": 1, "started": "0", "argv": ["x"]}')
    assert procs.running(pidfile) is None
    assert procs.stop(pidfile) is False


def test_rss_counts_children(tmp_path: Path) -> None:
    code = (
        "import subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"
    )
    spec = _spec(tmp_path, [sys.executable, "-c", code])
    record = procs.start(spec)
    try:
        import time

        time.sleep(0.5)
        assert procs.rss_kib(record.pid) > 2 * 5000  # two interpreters
    finally:
        procs.stop(spec.pidfile)
