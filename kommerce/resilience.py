"""Calling a dependency that may fail: a circuit breaker and retries with backoff and jitter.

    breaker = CircuitBreaker("stripe", counts=lambda e: isinstance(e, TransientProviderError))
    async for attempt in retrying((TransientProviderError,), attempts=3):
        with attempt:
            result = await breaker.call(stripe_call)

`CircuitBreaker` stops calling a dependency that keeps failing: after `failure_threshold`
consecutive *counted* failures it opens and rejects calls at once with `CircuitOpen` (no
waiting on timeouts of a dependency that is down); after `reset_timeout` seconds it lets one
trial call through (half-open): success closes it, a counted failure opens it again. Only
exceptions for which `counts(exc)` is true are failures: a declined card is the provider
working, so it counts as a success. Plain asyncio, no threads and no background task; the
state is worked out from the clock when a call arrives.

`retrying` builds a `tenacity.AsyncRetrying`: exponential backoff with full jitter (a random
wait in a window that doubles each attempt, capped), only for the given exception types, the
last error re-raised as itself. Build one per call: tenacity keeps its per-run state in a
thread-local, which concurrent tasks on one event loop would share.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import ParamSpec, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


class BreakerState(StrEnum):
    CLOSED = "closed"
    HALF_OPEN = "half_open"
    OPEN = "open"


_GAUGE_VALUE = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


class CircuitOpen(Exception):
    """The breaker rejected the call without making it. `retry_after`: seconds until it lets a
    trial call through (0 while a trial call is in flight: its outcome decides)."""

    def __init__(self, name: str, retry_after: float) -> None:
        self.name = name
        self.retry_after = retry_after
        super().__init__(f"circuit {name!r} is open; retry in {retry_after:.1f} s")


@dataclass(frozen=True)
class BreakerMetrics:
    state: Gauge  # circuit_breaker_state{name}: 0 closed, 1 half-open, 2 open
    rejected: Counter  # circuit_breaker_rejected_total{name}


_METRICS: weakref.WeakKeyDictionary[CollectorRegistry, BreakerMetrics] = weakref.WeakKeyDictionary()


def breaker_metrics(registry: CollectorRegistry) -> BreakerMetrics:
    """The breaker metric families on `registry`, registered once (breakers share them)."""
    if (found := _METRICS.get(registry)) is None:
        found = _METRICS[registry] = BreakerMetrics(
            state=Gauge(
                "circuit_breaker_state",
                "Circuit breaker state: 0 closed, 1 half-open, 2 open",
                ["name"],
                registry=registry,
            ),
            rejected=Counter(
                "circuit_breaker_rejected",
                "Calls rejected because the circuit breaker was open",
                ["name"],
                registry=registry,
            ),
        )
    return found


def _counts_any(exc: BaseException) -> bool:
    return isinstance(exc, Exception)


class CircuitBreaker:
    """Closed → open after `failure_threshold` consecutive counted failures → half-open after
    `reset_timeout` seconds (one trial call) → closed on success, open again on failure.

    `counts(exc)` says which exceptions are failures (default: any `Exception`; cancellation
    never is). Other exceptions pass through and count as successes: the dependency answered.
    """

    def __init__(
        self,
        name: str,
        failure_threshold: int = 5,
        reset_timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        counts: Callable[[BaseException], bool] = _counts_any,
        registry: CollectorRegistry | None = None,
    ) -> None:
        if failure_threshold < 1 or reset_timeout < 0:
            raise ValueError("failure_threshold must be >= 1 and reset_timeout >= 0")
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self.counts = counts
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0  # consecutive counted failures while closed
        self._opened_at = 0.0
        self._trial_in_flight = False
        self._metrics = breaker_metrics(registry) if registry is not None else None
        self._publish()

    @property
    def state(self) -> BreakerState:
        """The state now (an open breaker whose timeout has passed reads half-open)."""
        if self._state is BreakerState.OPEN and self._retry_after() <= 0:
            return BreakerState.HALF_OPEN
        return self._state

    @property
    def failures(self) -> int:
        return self._failures

    async def call(self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """`await fn(*args, **kwargs)` guarded by the breaker."""
        async with self.guard():
            return await fn(*args, **kwargs)

    @asynccontextmanager
    async def guard(self) -> AsyncIterator[None]:
        """Run the block guarded: raises `CircuitOpen` before it when the breaker is open."""
        trial = self._admit()
        try:
            yield
        except BaseException as exc:
            if self.counts(exc):
                self._failed(trial)
            elif isinstance(exc, Exception):
                self._succeeded(trial)
            elif trial:  # cancelled mid-trial: neither outcome, let the next call try
                self._trial_in_flight = False
            raise
        else:
            self._succeeded(trial)

    def _retry_after(self) -> float:
        return max(0.0, self._opened_at + self.reset_timeout - self._clock())

    def _admit(self) -> bool:
        """Let a call through (True if it is the half-open trial) or raise CircuitOpen."""
        if self._state is BreakerState.CLOSED:
            return False
        if self._state is BreakerState.OPEN:
            if (wait := self._retry_after()) > 0:
                self._reject(wait)
            self._set(BreakerState.HALF_OPEN)
        if self._trial_in_flight:
            self._reject(0.0)
        self._trial_in_flight = True
        return True

    def _reject(self, retry_after: float) -> None:
        if self._metrics is not None:
            self._metrics.rejected.labels(self.name).inc()
        raise CircuitOpen(self.name, retry_after)

    def _succeeded(self, trial: bool) -> None:
        if trial:
            self._trial_in_flight = False
            self._failures = 0
            self._set(BreakerState.CLOSED)
            log.info("circuit breaker closed", extra={"breaker": self.name})
        elif self._state is BreakerState.CLOSED:
            self._failures = 0
        # a call admitted while closed that ends after the breaker opened decides nothing

    def _failed(self, trial: bool) -> None:
        if trial:
            self._trial_in_flight = False
            self._open()
        elif self._state is BreakerState.CLOSED:
            self._failures += 1
            if self._failures >= self.failure_threshold:
                self._open()

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._set(BreakerState.OPEN)
        log.warning(
            "circuit breaker open",
            extra={"breaker": self.name, "failures": self._failures, "for": self.reset_timeout},
        )

    def _set(self, state: BreakerState) -> None:
        self._state = state
        self._publish()

    def _publish(self) -> None:
        if self._metrics is not None:
            self._metrics.state.labels(self.name).set(_GAUGE_VALUE[self._state])


def retrying(
    retry_on: tuple[type[BaseException], ...],
    attempts: int = 3,
    initial: float = 0.2,
    maximum: float = 2.0,
    *,
    name: str = "call",
    sleep: Callable[[float], Awaitable[None] | None] | None = None,
) -> AsyncRetrying:
    """At most `attempts` tries, retrying only `retry_on`, re-raising the last error as itself.

    Waits are full jitter: before retry n (1-based) a uniform random time in
    [0, min(initial * 2**(n-1), maximum)] seconds. `name` labels the retry log line; `sleep`
    replaces `asyncio.sleep` (tests). One instance per call (see the module docstring)."""
    if attempts < 1:
        raise ValueError("attempts must be >= 1")

    def log_retry(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning(
            "retrying %s after %s (attempt %d of %d) in %.3f s",
            name,
            type(error).__name__,
            state.attempt_number,
            attempts,
            wait,
            extra={"operation": name, "attempt": state.attempt_number, "error": str(error)},
        )

    retry = AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait_random_exponential(multiplier=initial, max=maximum),
        retry=retry_if_exception_type(retry_on),
        reraise=True,
        before_sleep=log_retry,
    )
    return retry if sleep is None else retry.copy(sleep=sleep)
