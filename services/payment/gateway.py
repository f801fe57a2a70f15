"""Retries and the circuit breaker around any payment provider.

    gateway = Gateway(stripe_provider, CircuitBreaker("stripe", ...), attempts=3)
    payment = await gateway.authorize(request, idempotency_key=f"{payment_id}:authorize")

`Gateway` is itself a `PaymentProvider`: the service talks to it and never to a provider
directly. Each call is retried on `TransientProviderError` only (backoff with full jitter,
`kommerce.resilience.retrying`) with the SAME idempotency key, so a retry of a request the
provider did receive is answered from the provider's idempotency store rather than done twice.
`CardDeclined` and `InvalidProviderRequest` are never retried. Each attempt goes through the
breaker, which counts only transient errors (a decline is the provider working): when it is
open the call is not made and `ProviderUnavailable` is raised at once — also mid-retry, which
ends the retries. `parse_webhook` (local verification) and `aclose` pass through unguarded.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from prometheus_client import CollectorRegistry

from kommerce.money import Money
from kommerce.resilience import CircuitBreaker, CircuitOpen, retrying
from services.payment import metrics
from services.payment.providers.base import (
    AuthorizeRequest,
    Handle,
    PaymentProvider,
    ProviderPayment,
    ProviderRefund,
    ProviderUnavailable,
    SavedMethod,
    TransientProviderError,
    WebhookEvent,
)

T = TypeVar("T")


def bounded(key: str) -> str:
    """The key as is, or its sha256 digest when too long for a provider (the same key always
    gives the same digest, so retries keep their meaning)."""
    if len(key) <= 100:
        return key
    return "sha256-" + hashlib.sha256(key.encode()).hexdigest()


def counts_as_failure(exc: BaseException) -> bool:
    """What the provider breaker counts: only errors that say the provider is unwell."""
    return isinstance(exc, TransientProviderError)


def provider_breaker(
    name: str,
    *,
    failures: int,
    reset_seconds: float,
    registry: CollectorRegistry | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> CircuitBreaker:
    """The breaker for one provider (settings: breaker_failures, breaker_reset_seconds)."""
    return CircuitBreaker(
        name,
        failure_threshold=failures,
        reset_timeout=reset_seconds,
        clock=clock,
        counts=counts_as_failure,
        registry=registry,
    )


class Gateway:
    """A provider with retries (transient errors only, same key) and a circuit breaker."""

    def __init__(
        self,
        provider: PaymentProvider,
        breaker: CircuitBreaker,
        attempts: int,
        *,
        initial: float = 0.2,
        maximum: float = 2.0,
        sleep: Callable[[float], Awaitable[None] | None] | None = None,
    ) -> None:
        self.provider = provider
        self.name = provider.name
        self.breaker = breaker
        self.attempts = attempts
        self._initial = initial
        self._maximum = maximum
        self._sleep = sleep

    async def _run(self, operation: str, call: Callable[[], Awaitable[T]]) -> T:
        retry = retrying(
            (TransientProviderError,),
            attempts=self.attempts,
            initial=self._initial,
            maximum=self._maximum,
            name=f"{self.name}.{operation}",
            sleep=self._sleep,
        )

        async def timed() -> T:  # calls the breaker lets through; not its fast failures
            with metrics.timed(self.name, operation):
                return await call()

        try:
            async for attempt in retry:
                with attempt:
                    return await self.breaker.call(timed)
        except CircuitOpen as exc:
            raise ProviderUnavailable(
                self.name,
                f"{operation} not attempted: too many recent failures; "
                f"retry in {exc.retry_after:.0f} s",
                code="circuit_open",
            ) from exc
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def ensure_customer(
        self, customer_id: str, *, email: str | None, idempotency_key: str
    ) -> str:
        return await self._run(
            "ensure_customer",
            lambda: self.provider.ensure_customer(
                customer_id, email=email, idempotency_key=bounded(idempotency_key)
            ),
        )

    async def attach_payment_method(
        self, provider_customer: str, payment_method: str, *, idempotency_key: str
    ) -> SavedMethod:
        return await self._run(
            "attach_payment_method",
            lambda: self.provider.attach_payment_method(
                provider_customer, payment_method, idempotency_key=bounded(idempotency_key)
            ),
        )

    async def authorize(
        self, request: AuthorizeRequest, *, idempotency_key: str
    ) -> ProviderPayment:
        return await self._run(
            "authorize",
            lambda: self.provider.authorize(request, idempotency_key=bounded(idempotency_key)),
        )

    async def retrieve(self, handle: Handle) -> ProviderPayment:
        return await self._run("retrieve", lambda: self.provider.retrieve(handle))

    async def capture(
        self, handle: Handle, amount_minor: int | None, *, idempotency_key: str
    ) -> ProviderPayment:
        return await self._run(
            "capture",
            lambda: self.provider.capture(
                handle, amount_minor, idempotency_key=bounded(idempotency_key)
            ),
        )

    async def cancel(self, handle: Handle, *, idempotency_key: str) -> ProviderPayment:
        return await self._run(
            "cancel", lambda: self.provider.cancel(handle, idempotency_key=bounded(idempotency_key))
        )

    async def refund(
        self, handle: Handle, amount: Money, *, idempotency_key: str, reason: str | None = None
    ) -> ProviderRefund:
        return await self._run(
            "refund",
            lambda: self.provider.refund(
                handle, amount, idempotency_key=bounded(idempotency_key), reason=reason
            ),
        )

    async def parse_webhook(self, payload: bytes, headers: dict[str, str]) -> WebhookEvent:
        return await self.provider.parse_webhook(payload, headers)

    async def aclose(self) -> None:
        await self.provider.aclose()
