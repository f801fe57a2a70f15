"""Liveness and readiness: `/healthz` says the process serves, `/readyz` checks dependencies.

Readiness runs every registered check concurrently, each bounded by a timeout, and answers 503
with each failing dependency named, so an orchestrator (and a person) sees exactly what is down.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

ReadinessCheck = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    seconds: float


async def run_checks(
    checks: dict[str, ReadinessCheck], *, limit_seconds: float
) -> list[CheckResult]:
    async def one(name: str, check: ReadinessCheck) -> CheckResult:
        t0 = time.perf_counter()
        try:
            await asyncio.wait_for(check(), timeout=limit_seconds)
            return CheckResult(name, True, "ok", time.perf_counter() - t0)
        except TimeoutError:
            return CheckResult(
                name, False, f"timed out after {limit_seconds}s", time.perf_counter() - t0
            )
        except Exception as exc:
            return CheckResult(
                name, False, f"{type(exc).__name__}: {exc}"[:300], time.perf_counter() - t0
            )

    return list(await asyncio.gather(*(one(n, c) for n, c in checks.items())))
