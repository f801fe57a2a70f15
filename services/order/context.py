"""Everything a request handler of the order service needs, built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request
from redis.asyncio import Redis

from kommerce.auth.claims import Principal
from kommerce.auth.dependency import Authenticator
from kommerce.auth.setup import authenticator
from kommerce.data.cache import redis_client
from kommerce.data.db import Database
from services.order.cart import Availability, CartStore
from services.order.checkout import Checkout
from services.order.checkout_saga import CheckoutSaga
from services.order.documents.issue import DocumentStore
from services.order.settings import OrderSettings


@dataclass
class OrderContext:
    settings: OrderSettings
    db: Database
    redis: Redis[Any]
    http: httpx.AsyncClient  # calls to other services (inventory availability)
    auth: Authenticator
    documents: DocumentStore  # invoices and credit notes (PDFs in S3)
    carts: CartStore
    availability: Availability
    checkout: Checkout

    @classmethod
    def build(
        cls,
        settings: OrderSettings,
        auth: Authenticator | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> OrderContext:
        """`http`: the client for other services (tests pass one bound to in-process apps)."""
        if settings.redis_url is None:
            raise RuntimeError("KOMMERCE_REDIS_URL is not set; run `eval $(kommerce stack env)`")
        redis = redis_client(str(settings.redis_url))
        http = http or httpx.AsyncClient(timeout=settings.availability_timeout_seconds)
        carts = CartStore(redis, settings)
        availability = Availability(http, settings)
        return cls(
            settings=settings,
            db=Database(
                url=settings.async_database_url(),
                schema=settings.schema_name,
                pool_size=settings.pool_size,
            ),
            redis=redis,
            http=http,
            auth=auth or authenticator(settings),
            documents=DocumentStore.from_settings(settings),
            carts=carts,
            availability=availability,
            checkout=Checkout(settings, carts, availability, CheckoutSaga(settings)),
        )

    async def close(self) -> None:
        await self.http.aclose()
        await self.redis.aclose()  # type: ignore[attr-defined]  # types-redis predates aclose
        await self.db.close()


async def ctx(request: Request) -> OrderContext:
    """Async on purpose: FastAPI runs a plain `def` dependency in its thread pool."""
    context: OrderContext = request.app.state.ctx
    return context


def permission(name: str):  # type: ignore[no-untyped-def]
    async def check(request: Request, c: Annotated[OrderContext, Depends(ctx)]) -> Principal:
        return await c.auth.require(name)(request)

    return check


Ctx = Annotated[OrderContext, Depends(ctx)]
# A signed-in shopper acting on their own cart and orders (ownership is checked per order).
Customer = Annotated[Principal, Depends(permission("orders:own"))]
Reader = Annotated[Principal, Depends(permission("orders:read"))]
Fulfiller = Annotated[Principal, Depends(permission("orders:fulfil"))]
Refunder = Annotated[Principal, Depends(permission("orders:refund"))]
Configurer = Annotated[Principal, Depends(permission("orders:configure"))]
