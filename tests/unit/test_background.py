"""kommerce.background: supervised background work of a service process."""

import asyncio

import pytest

from kommerce.background import Background

pytestmark = pytest.mark.unit


async def test_a_failing_piece_is_restarted() -> None:
    work = Background("t", restart_seconds=0.01)
    attempts = 0

    async def flaky() -> None:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise RuntimeError("broker away")

    work.supervise("flaky", flaky)
    for _ in range(200):
        if attempts >= 3:
            break
        await asyncio.sleep(0.01)
    await work.stop()
    assert attempts == 3


async def test_periodic_jobs_survive_their_failures() -> None:
    work = Background("t")
    runs = 0

    async def job() -> None:
        nonlocal runs
        runs += 1
        raise ValueError("one bad tick")

    work.every("job", 0.01, job)
    await asyncio.sleep(0.1)
    await work.stop()
    assert runs >= 3
    after = runs
    await asyncio.sleep(0.05)
    assert runs == after  # stopped means stopped


async def test_stop_cancels_work_that_ignores_it() -> None:
    work = Background("t")
    cancelled = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    work.supervise("stubborn", stubborn)
    await asyncio.sleep(0)
    await work.stop(grace=0.05)
    assert cancelled.is_set()
