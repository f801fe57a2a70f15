"""Running a service app in-process for integration tests, and what such tests wait for."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import httpx
from aiohttp import web
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from fastapi import FastAPI

from kommerce.events.emitter import registry
from tests.helpers import free_port
from tests.tokens import TokenMinter


async def ensure_topics(
    bootstrap: str,
    subjects: Iterable[str],
    *,
    partitions: int = 3,
    topics: Iterable[str] = (),
) -> None:
    """Create the topics of these event subjects, and `topics` by name (saga command and reply
    topics: `inventory.commands.v1`, ...), as the operator does in a cluster."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        for topic in [*(registry().subject(s).topic for s in subjects), *topics]:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([NewTopic(topic, partitions, replication_factor=1)])
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def jwks_server(minter: TokenMinter) -> AsyncIterator[str]:
    """The minter's keys over HTTP, as the user service publishes its own, for services run as
    real processes (`KOMMERCE_AUTH_JWKS_URL`, `KOMMERCE_AUTH_ISSUER=tests.tokens.ISSUER`)."""
    app = web.Application()

    async def jwks(request: web.Request) -> web.Response:
        return web.json_response(minter.jwks())

    app.router.add_get("/.well-known/jwks.json", jwks)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/.well-known/jwks.json"
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def serving(
    app: FastAPI, *, base_url: str, **client: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """The app through its lifespan (migrations, background work), reached over ASGI
    (`client`: more httpx.AsyncClient options; the timeout defaults to 30 s)."""
    client.setdefault("timeout", 30.0)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url, **client) as http:
            yield http
    finally:
        await lifespan.__aexit__(None, None, None)


async def eventually(
    check: Callable[[], Awaitable[Any]], *, seconds: float = 20.0, what: str = "condition"
) -> Any:
    """Poll `check` until it returns something truthy (or fail after `seconds`)."""
    deadline = time.monotonic() + seconds
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} not reached within {seconds} s (last: {last!r})")
