"""Install the pinned tools into the version-keyed cache, with progress and useful failures.

Everything comes from the package registries this project may reach (Go module proxy, Maven
Central, PyPI, Debian); nothing is downloaded from a project's website. Each tool is built in a
scratch directory and moved into place only when complete, so a crash leaves no half tool.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from kommerce.paths import tools_dir
from kommerce.tools.catalog import Tool, load_catalog

Say = Callable[[str], None]


class InstallError(RuntimeError):
    """A step failed; the message names the step and its log."""


def _say(msg: str) -> None:
    print(msg, flush=True)


def go_env() -> dict[str, str]:
    """Go caches inside the tool cache so a second build reuses every compiled package."""
    root = tools_dir() / "_go"
    return {
        **os.environ,
        "GOMODCACHE": str(root / "mod"),
        "GOCACHE": str(root / "build"),
        "GOFLAGS": "-mod=mod",
        "CGO_ENABLED": "0",
        "GOTOOLCHAIN": os.environ.get("GOTOOLCHAIN", "local"),
    }


def run_step(
    *,
    tool: Tool,
    step: str,
    argv: Sequence[str],
    log: Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    say: Say = _say,
) -> str:
    """Run one install step, logging to `log`, printing a heartbeat while it runs."""
    say(f"  {tool.name} {tool.version}: {step} ...")
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    done = threading.Event()

    def heartbeat() -> None:
        while not done.wait(30):
            say(
                f"  {tool.name}: {step} still running "
                f"({time.monotonic() - started:.0f}s, log {log})"
            )

    beat = threading.Thread(target=heartbeat, daemon=True)
    beat.start()
    try:
        with log.open("a") as out:
            out.write(f"\n$ {' '.join(argv)}\n")
            out.flush()
            proc = subprocess.run(
                list(argv), cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, check=False
            )
    except FileNotFoundError as exc:
        raise InstallError(
            f"{tool.name}: step '{step}' could not run: {argv[0]} not found. "
            "Run `kommerce doctor` to see which toolchain is missing."
        ) from exc
    finally:
        done.set()
    if proc.returncode != 0:
        lines = log.read_text(errors="replace").splitlines()[-20:]
        raise InstallError(
            f"{tool.name} {tool.version}: step '{step}' failed (exit {proc.returncode}). "
            f"Full log: {log}\n" + "\n".join(lines)
        )
    say(f"  {tool.name}: {step} done in {time.monotonic() - started:.0f}s")
    return log.read_text(errors="replace")


def _kubernetes_wrapper(tool: Tool, work: Path, log: Path, say: Say) -> None:
    """k8s.io/kubernetes replaces its staging modules with local paths; mirror them as versions."""
    env = go_env()
    out = run_step(
        tool=tool,
        step="resolve k8s.io/kubernetes",
        argv=["go", "mod", "download", "-json", f"k8s.io/kubernetes@{tool.version}"],
        log=log,
        cwd=work,
        env=env,
        say=say,
    )
    info = json.loads(out[out.rindex("\n{") :])
    gomod = Path(info["GoMod"]).read_text()
    staging = re.findall(r"^\s+(k8s\.io/[\w.-]+) => \./staging", gomod, re.M)
    go_line = re.search(r"^go (\S+)", gomod, re.M)
    staging_version = "v0." + tool.version.split(".", 1)[1]
    lines = [
        "module kommerce.local/tools/kubernetes",
        "",
        f"go {go_line.group(1) if go_line else '1.26.0'}",
        "",
        f"require k8s.io/kubernetes {tool.version}",
        "",
        "replace (",
        *[f"\t{m} => {m} {staging_version}" for m in staging],
        ")",
        "",
    ]
    (work / "go.mod").write_text("\n".join(lines))
    imports = "\n".join(f'\t_ "k8s.io/kubernetes/cmd/{b}"' for b in tool.binaries)
    (work / "tools.go").write_text(f"//go:build tools\n\npackage tools\n\nimport (\n{imports}\n)\n")


def _kubernetes_version_ldflags(version: str) -> str:
    """Stamp the release into the binaries, as upstream's build does (`hack/lib/version.sh`);
    otherwise they report v0.0.0-master and clients warn about version skew."""
    major, minor = version.lstrip("v").split(".")[:2]
    values = {
        "gitVersion": version,
        "gitMajor": major,
        "gitMinor": minor,
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
    }
    flags = []
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {package}.{key}={value}" for key, value in values.items()]
    return " ".join(flags)


def _go_wrapper(tool: Tool, work: Path) -> list[str]:
    lines = [
        f"module kommerce.local/tools/{tool.name}",
        "",
        "go 1.24.0",
        "",
        f"require {tool.module} {tool.version}",
        "",
    ]
    (work / "go.mod").write_text("\n".join(lines))
    if tool.main:
        (work / "main.go").write_text(
            f'package main\n\nimport (\n\t"os"\n\n\t"{tool.module}/{tool.main}"\n)\n\n'
            f"func main() {{ {tool.main}.Main(os.Args) }}\n"
        )
        return ["."]
    pkgs = [tool.module if p == "." else f"{tool.module}/{p}" for p in tool.packages]
    imports = "\n".join(f'\t_ "{p}"' for p in pkgs)
    (work / "tools.go").write_text(f"//go:build tools\n\npackage tools\n\nimport (\n{imports}\n)\n")
    return pkgs


def install_go(tool: Tool, stage: Path, log: Path, say: Say) -> None:
    work = stage / "src"
    work.mkdir(parents=True)
    env = go_env()
    if tool.kind == "kubernetes":
        _kubernetes_wrapper(tool, work, log, say)
        pkgs = [f"k8s.io/kubernetes/cmd/{b}" for b in tool.binaries]
    else:
        pkgs = _go_wrapper(tool, work)
    run_step(
        tool=tool,
        step="go mod tidy",
        argv=["go", "mod", "tidy"],
        log=log,
        cwd=work,
        env=env,
        say=say,
    )
    bindir = stage / "bin"
    bindir.mkdir()
    target = str(bindir / tool.binaries[0]) if len(pkgs) == 1 else str(bindir) + "/"
    ldflags = "-s -w"
    if tool.kind == "kubernetes":
        ldflags += " " + _kubernetes_version_ldflags(tool.version)
    run_step(
        tool=tool,
        step=f"go build ({len(pkgs)} commands; the first build on 2 cores takes minutes)",
        argv=["go", "build", "-trimpath", f"-ldflags={ldflags}", "-o", target, *pkgs],
        log=log,
        cwd=work,
        env=env,
        say=say,
    )
    shutil.rmtree(work)


def install_maven(tool: Tool, stage: Path, log: Path, say: Say) -> None:
    group, artifact = tool.artifact.split(":")
    version = tool.version.split("-")[0]  # a "-N" suffix only re-keys the cache
    deps = [
        f"<dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId><version>{version}</version></dependency>"
    ]
    for coord in tool.extra:
        g, a, v = coord.split(":")
        deps.append(
            f"<dependency><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version></dependency>"
        )
    pom = (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        f"<groupId>kommerce.tools</groupId><artifactId>{tool.name}</artifactId><version>1</version>"
        f"<dependencies>{''.join(deps)}</dependencies></project>"
    )
    work = stage / "src"
    work.mkdir(parents=True)
    (work / "pom.xml").write_text(pom)
    run_step(
        tool=tool,
        step="mvn dependency:copy-dependencies",
        argv=[
            "mvn",
            "-B",
            "-q",
            "dependency:copy-dependencies",
            f"-DoutputDirectory={stage / 'lib'}",
            "-DincludeScope=runtime",
            f"-Dmaven.repo.local={tools_dir() / '_maven'}",
        ],
        log=log,
        cwd=work,
        say=say,
    )
    shutil.rmtree(work)
    if tool.launcher:
        compile_launcher(tool, stage, log, say)


def compile_launcher(tool: Tool, stage: Path, log: Path, say: Say) -> None:
    """Compile our own Java entry point against the fetched jars into `<home>/classes`."""
    source = Path(__file__).parent / tool.launcher
    run_step(
        tool=tool,
        step=f"javac {source.name}",
        argv=[
            "javac",
            "--release",
            "17",
            "-nowarn",
            "-cp",
            f"{stage / 'lib'}/*",
            "-d",
            str(stage / "classes"),
            str(source),
        ],
        log=log,
        say=say,
    )


def install_pypi(tool: Tool, stage: Path, log: Path, say: Say) -> None:
    venv = stage / "venv"
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    create = (
        [uv, "venv", "-q", "--python", sys.executable, str(venv)]
        if uv
        else [sys.executable, "-m", "venv", str(venv)]
    )
    run_step(tool=tool, step="create venv", argv=create, log=log, say=say)
    if uv:
        argv = [uv, "pip", "install", "--python", str(venv / "bin" / "python"), *tool.requirements]
    else:
        argv = [str(venv / "bin" / "pip"), "install", "-q", *tool.requirements]
    run_step(
        tool=tool, step=f"pip install {' '.join(tool.requirements)}", argv=argv, log=log, say=say
    )


def install_apt(tool: Tool, log: Path, say: Say) -> None:
    if os.geteuid() != 0:
        raise InstallError(
            f"{tool.name}: Debian packages {' '.join(tool.apt_packages)} are missing and "
            "installing them needs root. Run: sudo apt-get install -y "
            + " ".join(tool.apt_packages)
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    argv = ["apt-get", "install", "-y", "--no-install-recommends", *tool.apt_packages]
    try:
        run_step(tool=tool, step="apt-get install", argv=argv, log=log, env=env, say=say)
    except InstallError:
        run_step(
            tool=tool, step="apt-get update", argv=["apt-get", "update"], log=log, env=env, say=say
        )
        run_step(tool=tool, step="apt-get install", argv=argv, log=log, env=env, say=say)
    # Debian starts some of these as system services on install; the stack runs its own.
    for unit in ("redis-server", "rabbitmq-server", "prometheus", "postgresql"):
        subprocess.run(["service", unit, "stop"], capture_output=True, check=False)


INSTALLERS = {"go": install_go, "kubernetes": install_go, "maven": install_maven}


def install_tool(tool: Tool, *, say: Say = _say) -> bool:
    """Install one tool if missing. Returns True if something was installed."""
    if tool.installed():
        say(f"  {tool.name} {tool.version}: already installed")
        return False
    log = tools_dir() / "_logs" / f"{tool.name}-{tool.version}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"install {tool.name} {tool.version} at {time.ctime()}\n")
    if tool.kind == "apt":
        install_apt(tool, log, say)
        return True
    started = time.monotonic()
    tool.home.parent.mkdir(parents=True, exist_ok=True)
    if tool.kind == "pypi":
        # A venv cannot be moved (its scripts name their interpreter by absolute path), so it
        # is built in place; the marker, written last, still tells a complete one apart.
        shutil.rmtree(tool.home, ignore_errors=True)
        tool.home.mkdir(parents=True)
        install_pypi(tool, tool.home, log, say)
        tool.marker.write_text(json.dumps({"installed_at": time.time()}))
        say(f"  {tool.name} {tool.version}: installed in {time.monotonic() - started:.0f}s")
        return True
    stage = Path(tempfile.mkdtemp(prefix=f".{tool.version}.", dir=tool.home.parent))
    try:
        INSTALLERS[tool.kind](tool, stage, log, say)
        (stage / ".complete").write_text(
            json.dumps(
                {"installed_at": time.time(), "seconds": round(time.monotonic() - started, 1)}
            )
        )
        if tool.home.exists():
            shutil.rmtree(tool.home)
        stage.rename(tool.home)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
    say(
        f"  {tool.name} {tool.version}: installed in "
        f"{time.monotonic() - started:.0f}s -> {tool.home}"
    )
    return True


def install_all(names: Sequence[str] = (), *, say: Say = _say) -> int:
    """Install the named tools (all when empty). Returns how many were installed."""
    catalog = load_catalog()
    unknown = [n for n in names if n not in catalog]
    if unknown:
        raise InstallError(f"unknown tool(s): {', '.join(unknown)}; known: {', '.join(catalog)}")
    selected = [catalog[n] for n in names] if names else list(catalog.values())
    # apt first: quick, and the Go builds that follow are the long part.
    selected.sort(key=lambda t: (t.kind != "apt", t.kind == "kubernetes"))
    say(f"kommerce tools: {len(selected)} tools, cache {tools_dir()}")
    installed = 0
    for index, tool in enumerate(selected, 1):
        say(f"[{index}/{len(selected)}] {tool.name} {tool.version} ({tool.kind})")
        installed += install_tool(tool, say=say)
    say(
        "kommerce tools: nothing to do, everything is installed"
        if installed == 0
        else f"kommerce tools: installed {installed} tool(s)"
    )
    return installed
