"""What the payment routers share: the caller, idempotent mutations, provider errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from kommerce.auth.claims import Principal
from kommerce.data import idempotency
from kommerce.http.errors import DependencyUnavailable, Problem
from services.payment.context import PaymentContext, context
from services.payment.providers.base import (
    InvalidProviderRequest,
    ProviderUnavailable,
    TransientProviderError,
)

Context = Annotated[PaymentContext, Depends(context)]
IdempotencyKey = idempotency.IdempotencyKey
PAYMENT_ID = r"^pay_[0-9a-f]{24}$"


async def _shopper(request: Request) -> Principal:
    principal: Principal = await request.app.state.auth.require()(request)
    return principal


async def _reader(request: Request) -> Principal:
    principal: Principal = await request.app.state.auth.require("payments:read")(request)
    return principal


async def _manager(request: Request) -> Principal:
    principal: Principal = await request.app.state.auth.require("payments:manage")(request)
    return principal


Caller = Annotated[Principal, Depends(_shopper)]
Reader = Annotated[Principal, Depends(_reader)]
Manager = Annotated[Principal, Depends(_manager)]


class ProviderRefused(Problem):
    status, slug, title = 422, "provider-refused", "The payment provider refused the request"


async def idempotent(
    ctx: PaymentContext,
    *,
    owner: str,
    key: str,
    body: Any,
    work: Callable[[], Awaitable[tuple[int, BaseModel]]],
) -> JSONResponse:
    """Run `work` once per (owner, key): a repeat with the same body gets the first response
    back, a concurrent one waits for it, another body is a 409 (Redis; see
    kommerce.data.redis_idempotency). A failure keeps nothing, so a retry works."""
    async with ctx.idempotency.attempt(owner, key, idempotency.fingerprint(body)) as attempt:
        if attempt.replay is not None:
            return JSONResponse(
                attempt.replay.body,
                status_code=attempt.replay.status,
                headers={"Idempotent-Replayed": "true"},
            )
        try:
            status, out = await work()
        except (TransientProviderError, ProviderUnavailable) as down:
            raise DependencyUnavailable(
                f"{down.message}; retry with the same {idempotency.HEADER}"
            ) from down
        except InvalidProviderRequest as refused:
            raise ProviderRefused(refused.message) from refused
        payload = out.model_dump(mode="json")
        await attempt.store(status, payload)
        return JSONResponse(payload, status_code=status)
