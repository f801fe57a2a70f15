"""Where Kommerce keeps things outside the repository.

Third-party tools live in a cache keyed by version (so a second install is free and two
checkouts share one build), and runtime state (data, logs, pid files) in a state directory.
Both are overridable by environment so CI and tests can isolate themselves.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def tools_dir() -> Path:
    """Root of the tool cache (`KOMMERCE_TOOLS`, default `~/.cache/kommerce/tools`)."""
    override = os.environ.get("KOMMERCE_TOOLS")
    return Path(override) if override else Path.home() / ".cache" / "kommerce" / "tools"


def state_dir() -> Path:
    """Root of runtime state (`KOMMERCE_STATE`, default `~/.local/state/kommerce`)."""
    override = os.environ.get("KOMMERCE_STATE")
    return Path(override) if override else Path.home() / ".local" / "state" / "kommerce"
