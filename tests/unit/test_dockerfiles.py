"""The Dockerfiles cannot be built here (no engine); keep the properties we promise checkable."""

from __future__ import annotations

import re

import pytest

from tests.helpers import REPO

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("name", ["Dockerfile.operator", "Dockerfile.service"])
def test_dockerfile_is_pinned_non_root_and_installs_the_lock(name: str) -> None:
    text = (REPO / name).read_text()
    bases = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert bases
    for base in bases:
        # an exact version: Python's slim image, or a tool's pinned release
        assert re.match(r"^(python:\d+\.\d+\.\d+-slim-\w+|[\w/.-]+:\d+\.\d+\.\d+(-\w+)?)$", base), (
            base
        )
    assert re.search(r"^USER\s+10001$", text, re.M)
    assert "requirements-runtime.lock" in text
    for copied in re.findall(r"^COPY\s+(?!--from)(\S+)", text, re.M):
        assert (REPO / copied).exists(), copied


def test_runtime_lock_has_no_dev_tools() -> None:
    lock = (REPO / "requirements-runtime.lock").read_text()
    for dev in ("pytest", "mypy", "ruff", "bandit"):
        assert not re.search(rf"^{dev}==", lock, re.M), dev
    assert re.search(r"^kopf==", lock, re.M)
