"""kommerce.resilience: the circuit breaker on a fake clock, retries without real sleeping."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from kommerce.resilience import BreakerState, CircuitBreaker, CircuitOpen, retrying

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Transient(Exception):
    pass


class Declined(Exception):
    pass


class Calls:
    """An async callable that raises the queued errors in turn, then returns "ok"."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.count = 0

    async def __call__(self) -> str:
        self.count += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def breaker(clock: Clock, registry: CollectorRegistry | None = None) -> CircuitBreaker:
    return CircuitBreaker(
        "psp",
        failure_threshold=3,
        reset_timeout=30.0,
        clock=clock,
        counts=lambda e: isinstance(e, Transient),
        registry=registry,
    )


def state_of(b: CircuitBreaker) -> BreakerState:
    return b.state  # read afresh each time (mypy would narrow `b.state` across awaits)


async def fail(b: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        with pytest.raises(Transient):
            await b.call(Calls(Transient()))


async def test_opens_after_threshold_consecutive_failures_and_rejects_fast() -> None:
    clock = Clock()
    b = breaker(clock)
    await fail(b, 2)
    assert state_of(b) is BreakerState.CLOSED
    await fail(b, 1)
    assert state_of(b) is BreakerState.OPEN
    clock.now += 10
    fn = Calls()
    with pytest.raises(CircuitOpen) as caught:
        await b.call(fn)
    assert fn.count == 0  # not called at all
    assert caught.value.name == "psp"
    assert caught.value.retry_after == pytest.approx(20.0)


async def test_a_success_resets_the_consecutive_count() -> None:
    b = breaker(Clock())
    await fail(b, 2)
    assert await b.call(Calls()) == "ok"
    await fail(b, 2)
    assert state_of(b) is BreakerState.CLOSED
    assert b.failures == 2


async def test_half_open_allows_one_trial_and_success_closes() -> None:
    clock = Clock()
    b = breaker(clock)
    await fail(b, 3)
    clock.now += 30
    assert state_of(b) is BreakerState.HALF_OPEN
    release = asyncio.Event()

    async def slow() -> str:
        await release.wait()
        return "ok"

    trial = asyncio.create_task(b.call(slow))
    await asyncio.sleep(0)  # the trial is in flight
    with pytest.raises(CircuitOpen) as caught:
        await b.call(Calls())
    assert caught.value.retry_after == 0.0
    release.set()
    assert await trial == "ok"
    assert state_of(b) is BreakerState.CLOSED
    assert await b.call(Calls()) == "ok"


async def test_failed_trial_reopens_for_another_timeout() -> None:
    clock = Clock()
    b = breaker(clock)
    await fail(b, 3)
    clock.now += 31
    await fail(b, 1)
    assert state_of(b) is BreakerState.OPEN
    clock.now += 29
    with pytest.raises(CircuitOpen):
        await b.call(Calls())
    clock.now += 1
    assert await b.call(Calls()) == "ok"
    assert state_of(b) is BreakerState.CLOSED


async def test_cancelled_trial_lets_the_next_call_try() -> None:
    clock = Clock()
    b = breaker(clock)
    await fail(b, 3)
    clock.now += 30
    with pytest.raises(asyncio.CancelledError):
        await b.call(Calls(asyncio.CancelledError()))
    assert state_of(b) is BreakerState.HALF_OPEN
    assert await b.call(Calls()) == "ok"


async def test_uncounted_errors_pass_through_and_never_open_it() -> None:
    b = breaker(Clock())
    for _ in range(10):
        with pytest.raises(Declined):
            await b.call(Calls(Declined()))
    assert state_of(b) is BreakerState.CLOSED
    await fail(b, 2)
    with pytest.raises(Declined):  # the provider answered: counts as a success
        await b.call(Calls(Declined()))
    assert b.failures == 0


async def test_guard_context_manager() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(3):
        with pytest.raises(Transient):
            async with b.guard():
                raise Transient
    with pytest.raises(CircuitOpen):
        async with b.guard():
            pytest.fail("the block must not run while open")


async def test_metrics_state_and_rejections() -> None:
    registry = CollectorRegistry()
    clock = Clock()
    b = breaker(clock, registry)
    other = CircuitBreaker("other", registry=registry)  # shares the metric families

    def state(name: str) -> float | None:
        return registry.get_sample_value("circuit_breaker_state", {"name": name})

    assert state("psp") == 0
    await fail(b, 3)
    assert state("psp") == 2
    with pytest.raises(CircuitOpen):
        await b.call(Calls())
    assert registry.get_sample_value("circuit_breaker_rejected_total", {"name": "psp"}) == 1
    clock.now += 30
    release = asyncio.Event()
    trial = asyncio.create_task(b.call(release.wait))
    await asyncio.sleep(0)
    assert state("psp") == 1
    release.set()
    await trial
    assert state("psp") == 0
    assert state_of(other) is BreakerState.CLOSED
    assert state("other") == 0


async def test_retries_transient_errors_up_to_attempts_then_reraises() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    fn = Calls(Transient("1"), Transient("2"), Transient("3"))
    with pytest.raises(Transient, match="3"):  # the last error itself, not a RetryError
        await retrying((Transient,), attempts=3, sleep=sleep)(fn)
    assert fn.count == 3
    assert len(slept) == 2


async def test_transient_then_success() -> None:
    async def sleep(seconds: float) -> None:
        pass

    fn = Calls(Transient(), Transient())
    assert await retrying((Transient,), attempts=3, sleep=sleep)(fn) == "ok"
    assert fn.count == 3


async def test_non_retryable_errors_stop_at_once() -> None:
    async def sleep(seconds: float) -> None:
        raise AssertionError("must not sleep")

    fn = Calls(Declined())
    with pytest.raises(Declined):
        await retrying((Transient,), attempts=5, sleep=sleep)(fn)
    assert fn.count == 1


async def test_async_for_form() -> None:
    async def sleep(seconds: float) -> None:
        pass

    fn = Calls(Transient())
    async for attempt in retrying((Transient,), sleep=sleep):
        with attempt:
            result = await fn()
    assert result == "ok"
    assert fn.count == 2


async def test_full_jitter_stays_within_the_doubling_capped_window() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    attempts = 6
    for _ in range(50):
        before = len(slept)
        fn = Calls(*(Transient() for _ in range(attempts)))
        with pytest.raises(Transient):
            await retrying((Transient,), attempts=attempts, initial=0.2, maximum=2.0, sleep=sleep)(
                fn
            )
        waits = slept[before:]
        assert len(waits) == attempts - 1
        for n, wait in enumerate(waits, start=1):  # before retry n
            assert 0.0 <= wait <= min(0.2 * 2 ** (n - 1), 2.0)
    assert len(set(slept)) > len(slept) // 2  # random, not a fixed schedule
    assert max(slept) > 1.0  # later windows are wider than the first (0.2 s)
