"""Run a policy's Rego tests with the real `opa test` binary before it may be activated.

The module and its test modules are written to a private temporary directory and tested with
`opa test --format=json`; a module that does not compile fails with OPA's error text. The
operator caches reports by content digest, so the timer does not re-run unchanged tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import tempfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from kommerce.tools.catalog import tool_path
from operators.policy.index import digest

TIMEOUT = 120.0
OPA_BIN_ENV = "KOMMERCE_OPA_BIN"


def opa_binary() -> str:
    """`$KOMMERCE_OPA_BIN` (the operator image), else OPA from the tool cache."""
    return os.environ.get(OPA_BIN_ENV) or str(tool_path("opa"))


@dataclass(frozen=True)
class TestReport:
    passed: int = 0
    failed: int = 0
    failures: tuple[str, ...] = ()
    error: str | None = None  # the modules do not compile (or opa could not run)
    details: dict[str, str] = field(default_factory=dict)  # failing test -> its error, if any

    __test__ = False  # not a pytest class

    @property
    def ok(self) -> bool:
        return self.error is None and self.failed == 0

    def summary(self) -> str:
        if self.error:
            return f"the modules do not compile: {self.error}"
        if self.failed:
            return f"{self.failed} of {self.passed + self.failed} tests failed: " + ", ".join(
                self.failures
            )
        if self.passed == 0:
            return "no tests"
        return f"{self.passed} tests passed"


def write_modules(root: Path, module: str, tests: list[str]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "policy.rego").write_text(module)
    for i, test in enumerate(tests):
        (root / f"policy_{i}_test.rego").write_text(test)


def parse(returncode: int, stdout: str, stderr: str) -> TestReport:
    """`opa test --format=json` output: 0 all pass, 2 some fail, anything else an error."""
    if returncode not in (0, 2):
        return TestReport(error=(stderr or stdout).strip()[:2000] or f"opa exited {returncode}")
    try:
        results = json.loads(stdout or "[]")
    except ValueError:
        return TestReport(error=(stderr or stdout).strip()[:2000])
    passed, failures, details = 0, [], {}
    for r in results:
        name = f"{str(r.get('package', '')).removeprefix('data.')}.{r.get('name', '?')}"
        if r.get("fail") or r.get("error"):
            failures.append(name)
            if r.get("error"):
                details[name] = str(r["error"].get("message", r["error"]))[:500]
        elif not r.get("skip"):
            passed += 1
    return TestReport(
        passed=passed, failed=len(failures), failures=tuple(sorted(failures)), details=details
    )


def run_dir(path: Path, *, verbose: bool = False) -> subprocess.CompletedProcess[str]:
    """`opa test` on a directory (the CLI shows its verbose output)."""
    argv = [opa_binary(), "test", str(path)]
    argv += ["-v"] if verbose else ["--format=json"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, check=False)


def run_sync(module: str, tests: list[str], *, verbose: bool = False) -> tuple[TestReport, str]:
    """Test a module; also returns `opa test -v` output when asked (for humans)."""
    with tempfile.TemporaryDirectory(prefix="kommerce-rego-") as tmp:
        write_modules(Path(tmp), module, tests)
        result = run_dir(Path(tmp))
        report = parse(result.returncode, result.stdout, result.stderr)
        text = ""
        if verbose:
            shown = run_dir(Path(tmp), verbose=True)
            text = (shown.stdout + shown.stderr).replace(tmp + "/", "")
    return report, text


async def run(module: str, tests: list[str]) -> TestReport:
    with tempfile.TemporaryDirectory(prefix="kommerce-rego-") as tmp:
        write_modules(Path(tmp), module, tests)
        try:
            proc = await asyncio.create_subprocess_exec(
                opa_binary(),
                "test",
                "--format=json",
                tmp,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            return TestReport(error=f"cannot run opa: {exc}")
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout=TIMEOUT)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return TestReport(error=f"opa test did not finish within {TIMEOUT:.0f}s")
        code = proc.returncode if proc.returncode is not None else -1
        return parse(code, out.decode(errors="replace"), err.decode(errors="replace"))


class TestCache:
    """Reports by content digest (module + tests), least recently used first out."""

    __test__ = False

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._reports: OrderedDict[str, TestReport] = OrderedDict()

    async def run(self, module: str, tests: list[str]) -> TestReport:
        key = digest(module, *tests)
        if key in self._reports:
            self._reports.move_to_end(key)
            return self._reports[key]
        report = await run(module, tests)
        self._reports[key] = report
        while len(self._reports) > self._size:
            self._reports.popitem(last=False)
        return report
