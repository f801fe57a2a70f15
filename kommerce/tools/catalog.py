"""The pinned tool catalogue (`versions.toml`) as typed records, and where each tool lives.

Every tool is installed into `<tools>/<name>/<version>/` and is complete only once the
`.complete` marker exists there, so an interrupted install is never mistaken for a good one.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from kommerce.paths import tools_dir

VERSIONS_FILE = Path(__file__).with_name("versions.toml")


@dataclass(frozen=True)
class Tool:
    name: str
    kind: str
    version: str
    binaries: tuple[str, ...]
    module: str = ""
    packages: tuple[str, ...] = ()
    main: str = ""
    artifact: str = ""
    extra: tuple[str, ...] = ()
    requirements: tuple[str, ...] = ()
    launcher: str = ""  # maven: Java source (relative to kommerce/tools/) compiled into classes/
    apt_packages: tuple[str, ...] = field(default=())

    @property
    def home(self) -> Path:
        return tools_dir() / self.name / self.version

    @property
    def marker(self) -> Path:
        return self.home / ".complete"

    def binary_path(self, binary: str) -> Path:
        if self.kind == "apt":
            return Path(binary)
        if self.kind == "pypi":
            return self.home / "venv" / "bin" / binary
        return self.home / "bin" / binary

    def installed(self) -> bool:
        if self.kind == "apt":
            return all(Path(b).exists() for b in self.binaries)
        return self.marker.exists()


def load_catalog(path: Path = VERSIONS_FILE) -> dict[str, Tool]:
    data = tomllib.loads(path.read_text())
    tools: dict[str, Tool] = {}
    for name, entry in data.items():
        tools[name] = Tool(
            name=name,
            kind=entry["kind"],
            version=str(entry["version"]),
            binaries=tuple(entry.get("binaries", ())),
            module=entry.get("module", ""),
            packages=tuple(entry.get("packages", ())),
            main=entry.get("main", ""),
            artifact=entry.get("artifact", ""),
            extra=tuple(entry.get("extra", ())),
            requirements=tuple(entry.get("requirements", ())),
            launcher=entry.get("launcher", ""),
            apt_packages=tuple(entry.get("packages", ())) if entry["kind"] == "apt" else (),
        )
    return tools


class UnknownTool(LookupError):
    pass


def tool_path(binary: str, catalog: dict[str, Tool] | None = None) -> Path:
    """Absolute path of an executable by its name (`kube-apiserver`, `bao`, `promtool`, ...)."""
    catalog = catalog or load_catalog()
    for tool in catalog.values():
        for candidate in tool.binaries:
            if Path(candidate).name == binary:
                return tool.binary_path(candidate)
    if binary in catalog and catalog[binary].kind == "maven":
        return catalog[binary].home
    known = sorted(
        {Path(b).name for t in catalog.values() for b in t.binaries}
        | {t.name for t in catalog.values() if t.kind == "maven"}
    )
    raise UnknownTool(f"unknown tool {binary!r}; known: {', '.join(known)}")
