"""Everything a request handler of the product service needs, built once at start-up.

Routers get it with `Depends(ctx)`; writes depend on `writer` (a token with `catalog:write`);
tests build the app with their own settings and authenticator and reach it via `app.state.ctx`.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from kommerce.auth.claims import Principal
from kommerce.auth.dependency import Authenticator
from kommerce.data.db import Database
from kommerce.data.objects import ObjectStore
from services.product.settings import ProductSettings
from services.product.storage import store_for

WRITE_PERMISSION = "catalog:write"


@dataclass
class ProductContext:
    settings: ProductSettings
    db: Database
    store: ObjectStore
    auth: Authenticator

    @classmethod
    def build(cls, settings: ProductSettings, auth: Authenticator) -> ProductContext:
        return cls(
            settings=settings,
            db=Database(url=settings.async_database_url(), schema=settings.schema_name),
            store=store_for(settings),
            auth=auth,
        )


def ctx(request: Request) -> ProductContext:
    context: ProductContext = request.app.state.ctx
    return context


async def writer(request: Request) -> Principal:
    """The caller, if its token grants `catalog:write` (401 without a token, 403 without it)."""
    return await ctx(request).auth.require(WRITE_PERMISSION)(request)


def actor(principal: Principal) -> str:
    return f"user:{principal.user_id}"
