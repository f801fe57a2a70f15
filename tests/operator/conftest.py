"""Operator-tier fixtures: the real operator process against the real local API server."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers import KOMMERCE, REPO, free_port, stop


@contextmanager
def operator_process(kubeconfig: Path, log: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    # The operator logs in to OpenBao with the Kubernetes auth method, never the root token.
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "KOMMERCE_VAULT_AUTH": "kubernetes"}
    env.pop("KOMMERCE_VAULT_TOKEN", None)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*KOMMERCE, "operator", "run", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO,
        )
    try:
        deadline = time.monotonic() + 90
        while "Activity 'startup' succeeded" not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"operator did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield proc
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def operator_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("operator") / "operator.log"


@pytest.fixture(scope="session")
def metrics_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def operator(
    kubeconfig: Path, operator_log: Path, metrics_port: int, openbao: dict[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    with operator_process(
        kubeconfig,
        operator_log,
        "--no-peering",
        "--metrics-port",
        str(metrics_port),
        # Test namespaces and the manifests' namespace; `solo-*` is left to tests that run
        # (and kill) an operator of their own.
        "--namespace=t-*",
        "--namespace=kommerce",
        # The Policy admission webhook, registered for the test cluster while the session runs.
        "--admission",
        f"--webhook-port={free_port()}",
        "--audit-interval=3",
    ) as proc:
        yield proc
