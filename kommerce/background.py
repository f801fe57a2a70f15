"""A service process's long-running work beside its HTTP routes, started after migrations and
stopped on shutdown: the outbox relay, consumers, projections and periodic jobs.

Every piece is supervised: an exception is logged and the piece restarts after a pause, so a
Kafka or PostgreSQL outage degrades the service instead of silently ending its background work.
`stop()` ends everything (consumers leave their group cleanly, the relay finishes its batch).

    work = Background("inventory")
    await work.relay(settings, registry=app.state.metrics.registry)
    await work.consumer(Consumer(...))
    work.every("reservation-sweeper", 1.0, sweep)
    ...
    await work.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry

from kommerce.events.consumer import Consumer
from kommerce.events.relay import Relay
from kommerce.settings import KommerceSettings

log = logging.getLogger("kommerce.background")
RESTART_SECONDS = 5.0


class Background:
    def __init__(self, service: str, *, restart_seconds: float = RESTART_SECONDS) -> None:
        self.service = service
        self.restart_seconds = restart_seconds
        self.stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._consumers: list[Consumer] = []
        self._relays: list[Relay] = []

    def supervise(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """Run `run()` until it returns or the service stops; restart it after a failure."""

        async def keep_running() -> None:
            while not self.stopping.is_set():
                try:
                    await run()
                    return
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception(
                        "%s failed; restarting in %.0f s",
                        name,
                        self.restart_seconds,
                        extra={"task": name},
                    )
                    await self._pause(self.restart_seconds)

        self._tasks.append(asyncio.create_task(keep_running(), name=f"{self.service}-{name}"))

    def every(self, name: str, seconds: float, job: Callable[[], Awaitable[object]]) -> None:
        """Run `job()` every `seconds` (a failure is logged and retried at the next tick)."""

        async def tick() -> None:
            while not self.stopping.is_set():
                await self._pause(seconds)
                if self.stopping.is_set():
                    return
                try:
                    await job()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("%s failed; will retry", name, extra={"task": name})

        self._tasks.append(asyncio.create_task(tick(), name=f"{self.service}-{name}"))

    async def relay(
        self, settings: KommerceSettings, *, schema: str, registry: CollectorRegistry
    ) -> Relay | None:
        """Publish the service's outbox (None, with a warning, when Kafka is not configured)."""
        if settings.kafka_bootstrap is None:
            log.warning(
                "KOMMERCE_KAFKA_BOOTSTRAP is not set: %s's events stay in its outbox", self.service
            )
            return None
        relay = Relay(
            database_url=settings.async_database_url(),
            schema=schema,
            bootstrap=settings.kafka_bootstrap,
            registry=registry,
        )
        await relay.start()
        self._relays.append(relay)
        return relay

    async def consumer(self, consumer: Consumer) -> None:
        """Join the consumer's group now (so `stop()` can always leave it), then run it."""
        self._consumers.append(consumer)
        await consumer.start()
        self.supervise(f"consumer {consumer.name}", consumer.run)

    async def stop(self, grace: float = 10.0) -> None:
        """Stop everything; a task still running after `grace` seconds is cancelled."""
        self.stopping.set()
        for consumer in self._consumers:
            with contextlib.suppress(Exception):
                await consumer.stop()
        for task in self._tasks:
            try:
                await asyncio.wait_for(task, timeout=grace)
            except (TimeoutError, asyncio.CancelledError):
                pass
            except Exception:
                log.exception("background task %s failed while stopping", task.get_name())
        self._tasks.clear()
        for relay in self._relays:
            await relay.stop()
        self._relays.clear()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)
