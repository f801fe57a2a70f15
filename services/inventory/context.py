"""Everything a request handler of the inventory service needs, built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from redis.asyncio import Redis

from kommerce.auth.claims import Principal
from kommerce.auth.dependency import Authenticator
from kommerce.auth.setup import authenticator
from kommerce.data.cache import redis_client
from kommerce.data.db import Database
from services.inventory.ats import AtsCache
from services.inventory.settings import InventorySettings


@dataclass
class InventoryContext:
    settings: InventorySettings
    db: Database
    redis: Redis[Any]
    ats: AtsCache
    auth: Authenticator

    @classmethod
    def build(
        cls, settings: InventorySettings, auth: Authenticator | None = None
    ) -> InventoryContext:
        db = Database(
            url=settings.async_database_url(),
            schema=settings.schema_name,
            pool_size=settings.pool_size,
            # no ping per checkout: the writes retry on a dead connection (retry.py)
            pre_ping=False,
        )
        if settings.redis_url is None:
            raise RuntimeError("KOMMERCE_REDIS_URL is not set; run `eval $(kommerce stack env)`")
        redis = redis_client(str(settings.redis_url))
        return cls(
            settings=settings,
            db=db,
            redis=redis,
            ats=AtsCache(redis, db, ttl_seconds=settings.ats_cache_seconds),
            auth=auth or authenticator(settings),
        )


async def ctx(request: Request) -> InventoryContext:
    """Async on purpose: FastAPI runs a plain `def` dependency in its thread pool."""
    context: InventoryContext = request.app.state.ctx
    return context


def permission(name: str):  # type: ignore[no-untyped-def]
    async def check(request: Request, c: Annotated[InventoryContext, Depends(ctx)]) -> Principal:
        return await c.auth.require(name)(request)

    return check


Ctx = Annotated[InventoryContext, Depends(ctx)]
Writer = Annotated[Principal, Depends(permission("inventory:write"))]
Reader = Annotated[Principal, Depends(permission("inventory:read"))]
