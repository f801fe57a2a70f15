"""Shared fixtures: an isolated local stack and cluster for the test session.

Tests never touch a developer's running platform: they use their own state directory
(`<state>/test`) and ports shifted by `KOMMERCE_TEST_PORT_OFFSET` (default 100). The servers
are started on first use and stopped at the end of the session unless they were already
running (then they are left as found) or `KOMMERCE_TEST_KEEP=1`.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from kommerce.kube import api_client
from kommerce.paths import state_dir
from kommerce.runtime.component import Component

TEST_OFFSET = os.environ.get("KOMMERCE_TEST_PORT_OFFSET", "100")


@pytest.fixture(scope="session")
def test_state() -> Path:
    return state_dir() / "test"


@pytest.fixture(scope="session")
def test_session_lock(test_state: Path) -> Iterator[None]:
    """One test session at a time per state directory: two would share (and stop) one stack."""
    import fcntl

    test_state.mkdir(parents=True, exist_ok=True)
    with (test_state / "session.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(
                f"another test session is using {test_state}; waiting for it to finish "
                "(or run this one with KOMMERCE_STATE and KOMMERCE_TEST_PORT_OFFSET of its own)"
            )
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
def isolated_env(test_state: Path, test_session_lock: None) -> Iterator[None]:
    """Point every KOMMERCE_* lookup at the test stack for the rest of the session."""
    saved = {k: os.environ.get(k) for k in ("KOMMERCE_STATE", "KOMMERCE_PORT_OFFSET")}
    os.environ["KOMMERCE_STATE"] = str(test_state)
    os.environ["KOMMERCE_PORT_OFFSET"] = TEST_OFFSET
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def stack_env(isolated_env: None) -> Iterator[dict[str, str]]:
    """The whole local stack, running; yields its KOMMERCE_* environment."""
    from kommerce.runtime import orchestrate
    from kommerce.stack import config
    from kommerce.stack.servers import servers

    components = servers()
    _fresh_event_log(components)
    started = orchestrate.up(components, say=print, what="test stack")
    env = config.environment()
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield env
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    if os.environ.get("KOMMERCE_TEST_KEEP") != "1":
        orchestrate.down([s for s in servers() if s.name in started], say=print, what="test stack")


def _fresh_event_log(components: list[Component]) -> None:
    """A session that starts Kafka starts it with no topics. The services under test each use
    consumer groups of their own that begin at the earliest offset, so every earlier session's
    events would otherwise be replayed by each of them (and the backlog grows run after run
    on a machine that keeps its test state)."""
    from kommerce.runtime import procs
    from kommerce.stack.servers import kafka_log_dir

    kafka = next(c for c in components if c.name == "kafka")
    log_dir = kafka_log_dir(kafka)
    if procs.running(kafka.pidfile) is None and log_dir.exists():
        print(f"test stack: starting Kafka with an empty log (removing {log_dir})")
        shutil.rmtree(log_dir)


@pytest.fixture(scope="session")
def kubeconfig(isolated_env: None) -> Iterator[Path]:
    """The local control plane with kwok nodes, running; yields the admin kubeconfig path."""
    from kommerce.cluster import control_plane as cp
    from kommerce.cluster import manager
    from kommerce.runtime import orchestrate
    from tests import leftovers

    started = manager.up(say=print)
    with api_client(cp.kubeconfig_path()) as api:
        leftovers.remove(api)
    yield cp.kubeconfig_path()
    if started and os.environ.get("KOMMERCE_TEST_KEEP") != "1":
        orchestrate.down(cp.components(), say=print, what="test cluster")


@pytest.fixture(scope="session")
def kube(kubeconfig: Path) -> Iterator[client.ApiClient]:
    with api_client(kubeconfig) as api:
        yield api


@pytest.fixture
def namespace(kube: client.ApiClient) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(kube)
    core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})  # type: ignore[arg-type]
    yield name
    try:
        core.delete_namespace(name)
    except client.ApiException as exc:
        if exc.status != 404:
            raise


@pytest.fixture(scope="session")
def openbao(stack_env: dict[str, str], kubeconfig: Path) -> dict[str, str]:
    """OpenBao bootstrapped for the test cluster (engines, policy, Kubernetes auth)."""
    import subprocess

    from tests.helpers import KOMMERCE

    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    done = subprocess.run(
        [*KOMMERCE, "openbao", "bootstrap"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return stack_env
