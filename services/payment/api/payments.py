"""Payments API: create (authorize), read, the shopper's return from 3-D Secure, capture,
cancel, refunds and the history. Every mutation takes an `Idempotency-Key` (Redis)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from kommerce.auth.claims import Principal
from kommerce.http.errors import Conflict, DependencyUnavailable, Forbidden
from kommerce.http.responses import problems
from kommerce.money import Currency, Money
from services.payment import authorization, payments, refunds
from services.payment.api.common import (
    PAYMENT_ID,
    Caller,
    Context,
    IdempotencyKey,
    Manager,
    idempotent,
)
from services.payment.authorization import AuthorizeInput
from services.payment.context import PaymentContext
from services.payment.payments import PaymentNotFound
from services.payment.providers.base import ProviderError
from services.payment.states import Status
from services.payment.tables import REFUNDS

router = APIRouter(prefix="/v1/payments", tags=["payments"], responses=problems(400, 401, 404, 422))

ORDER_ID = r"^[A-Za-z0-9._:-]{1,200}$"
METHOD = r"^[A-Za-z0-9_]{1,255}$"
COUNTRY = r"^[A-Z]{2}$"


class PaymentIn(BaseModel):
    order_id: str | None = Field(default=None, pattern=ORDER_ID)
    amount_minor: int = Field(gt=0, le=2**53 - 1, description="integer minor units")
    currency: Currency = Field(description="ISO 4217, e.g. EUR, JPY, KWD")
    payment_method: str = Field(
        pattern=METHOD, description="a provider token (Stripe pm_...; 'paypal'), never card data"
    )
    provider: Literal["stripe", "paypal"] = "stripe"
    capture_method: Literal["manual", "automatic"] | None = None
    billing_country: str | None = Field(default=None, pattern=COUNTRY)


class RefundIn(BaseModel):
    amount_minor: int = Field(gt=0, le=2**53 - 1)
    reason: str = Field(default="", max_length=500)


class CaptureIn(BaseModel):
    amount_minor: int | None = Field(default=None, gt=0, le=2**53 - 1)


class RefundOut(BaseModel):
    refund_id: str
    payment_id: str
    amount_minor: int
    currency: str
    status: Literal["pending", "succeeded", "failed"]
    reason: str
    provider_reference: str | None
    created_at: datetime


class PaymentOut(BaseModel):
    payment_id: str
    order_id: str | None
    customer_id: str
    provider: str
    provider_reference: str | None = Field(description="the provider's id (pi_..., PayPal order)")
    status: Status
    capture_method: str
    amount_minor: int
    currency: str
    captured_minor: int
    refunded_minor: int
    settlement_currency: str
    settlement_amount_minor: int
    fx_rate: str
    next_action: dict[str, Any] | None = Field(
        description="for requires_action: what the client must do (e.g. redirect_to_url)"
    )
    client_secret: str | None = Field(description="for the payer's client only (Stripe.js)")
    failure_code: str | None
    failure_message: str | None
    fraud_decision: Literal["allow", "review", "block"]
    created_at: datetime
    updated_at: datetime


class HistoryOut(BaseModel):
    from_status: str | None
    to_status: str
    action: str
    amount_minor: int | None
    source: str
    detail: str
    at: datetime


def payment_out(row: Any, principal: Principal) -> PaymentOut:
    values = dict(row._mapping)
    values["fx_rate"] = str(row.fx_rate)
    if principal.user_id != row.customer_id:
        values["client_secret"] = None
    return PaymentOut(**values)


async def _visible(ctx: PaymentContext, payment_id: str, principal: Principal) -> Any:
    async with ctx.db.session() as session:
        row = await payments.find_by_id(session, payment_id)
    if row is None or not (row.customer_id == principal.user_id or principal.can("payments:read")):
        raise PaymentNotFound(f"no payment {payment_id}")
    return row


PaymentPath = Annotated[str, Path(pattern=PAYMENT_ID)]


@router.post(
    "",
    status_code=201,
    response_model=PaymentOut,
    responses=problems(403, 409, 428, 503),
)
async def create_payment(
    body: PaymentIn, ctx: Context, principal: Caller, key: IdempotencyKey
) -> JSONResponse:
    """Authorize a payment for the caller. The answer's `status` is `authorized` (or
    `captured`), `requires_action` (follow `next_action`, then `POST .../return`), `pending`
    (the provider's webhook will decide), or `failed` (`failure_code`: the decline)."""
    amount = Money(amount=body.amount_minor, currency=body.currency)
    if body.order_id and not principal.can("payments:manage"):
        # an order's payment is the checkout saga's to make; a shopper naming an order id
        # could otherwise block someone else's checkout
        raise Forbidden("only staff (payments:manage) may create a payment for an order_id")

    async def work() -> tuple[int, BaseModel]:
        async with ctx.db.session() as session:
            if body.order_id and await payments.find(session, order_id=body.order_id):
                raise Conflict(f"order {body.order_id} already has a payment")
            row = await authorization.authorize(
                ctx,
                session,
                AuthorizeInput(
                    order_id=body.order_id,
                    customer_id=principal.user_id,
                    amount=amount,
                    payment_method=body.payment_method,
                    provider=body.provider,
                    capture_method=body.capture_method or ctx.settings.capture_method,
                    idempotency_key=f"api:{principal.user_id}:{key}",
                    billing_country=body.billing_country,
                ),
                source=f"api:{principal.user_id}",
            )
        return 201, payment_out(row, principal)

    return await idempotent(
        ctx, owner=principal.user_id, key=key, body=body.model_dump(mode="json"), work=work
    )


@router.get("", response_model=list[PaymentOut])
async def payments_of_order(
    ctx: Context, principal: Caller, order_id: Annotated[str, Query(pattern=ORDER_ID)]
) -> list[PaymentOut]:
    """The order's payment (none or one), if the caller may see it."""
    async with ctx.db.session() as session:
        row = await payments.find(session, order_id=order_id)
    if row is None or not (row.customer_id == principal.user_id or principal.can("payments:read")):
        return []
    return [payment_out(row, principal)]


@router.get("/{payment_id}", response_model=PaymentOut)
async def get_payment(payment_id: PaymentPath, ctx: Context, principal: Caller) -> PaymentOut:
    return payment_out(await _visible(ctx, payment_id, principal), principal)


@router.get("/{payment_id}/history", response_model=list[HistoryOut])
async def payment_history(
    payment_id: PaymentPath, ctx: Context, principal: Caller
) -> list[HistoryOut]:
    """Every status change and money movement, oldest first, with what caused it."""
    await _visible(ctx, payment_id, principal)
    async with ctx.db.session() as session:
        rows = await payments.history(session, payment_id)
    return [HistoryOut(**dict(r._mapping)) for r in rows]


@router.post("/{payment_id}/return", response_model=PaymentOut, responses=problems(503))
async def returned(payment_id: PaymentPath, ctx: Context, principal: Caller) -> PaymentOut:
    """The shopper is back from 3-D Secure or a PayPal approval: ask the provider where the
    payment stands and apply it (the webhook may also have done so already). Safe to repeat."""
    await _visible(ctx, payment_id, principal)
    async with ctx.db.session() as session:
        row = await payments.get(session, payment_id, lock=True)
        try:
            row = await authorization.refresh(ctx, session, row, source=f"api:{principal.user_id}")
        except ProviderError as exc:
            raise DependencyUnavailable(f"{exc.message}; try again") from exc
        row = await ctx.participant.resolve(session, row)
    return payment_out(row, principal)


@router.post(
    "/{payment_id}/capture", response_model=PaymentOut, responses=problems(403, 409, 428, 503)
)
async def capture(
    payment_id: PaymentPath,
    body: CaptureIn,
    ctx: Context,
    principal: Manager,
    key: IdempotencyKey,
) -> JSONResponse:
    """Capture an authorized payment, all or `amount_minor` of it (the rest is released)."""

    async def work() -> tuple[int, BaseModel]:
        async with ctx.db.session() as session:
            row = await payments.get(session, payment_id, lock=True)
            if body.amount_minor is not None and body.amount_minor > row.amount_minor:
                raise Conflict(
                    f"cannot capture {body.amount_minor}: payment {payment_id} authorized "
                    f"{row.amount_minor} {row.currency}"
                )
            if row.status != Status.AUTHORIZED:
                raise Conflict(f"payment {payment_id} is {row.status}, not authorized")
            row = await authorization.capture(
                ctx,
                session,
                row,
                body.amount_minor,
                idempotency_key=f"{payment_id}:capture",
                source=f"api:{principal.user_id}",
            )
        return 200, payment_out(row, principal)

    return await idempotent(
        ctx, owner=principal.user_id, key=key, body=[payment_id, body.model_dump()], work=work
    )


@router.post(
    "/{payment_id}/cancel", response_model=PaymentOut, responses=problems(403, 409, 428, 503)
)
async def cancel(
    payment_id: PaymentPath, ctx: Context, principal: Manager, key: IdempotencyKey
) -> JSONResponse:
    """Cancel a payment that is not captured (voids the authorization)."""

    async def work() -> tuple[int, BaseModel]:
        async with ctx.db.session() as session:
            row = await payments.get(session, payment_id, lock=True)
            if row.status not in (Status.PENDING, Status.REQUIRES_ACTION, Status.AUTHORIZED):
                raise Conflict(f"payment {payment_id} is {row.status}: nothing to cancel")
            row = await authorization.cancel(ctx, session, row, source=f"api:{principal.user_id}")
            row = await ctx.participant.resolve(session, row)
        return 200, payment_out(row, principal)

    return await idempotent(ctx, owner=principal.user_id, key=key, body=[payment_id], work=work)


@router.post(
    "/{payment_id}/refunds",
    status_code=201,
    response_model=RefundOut,
    responses=problems(403, 409, 428, 503),
)
async def refund(
    payment_id: PaymentPath,
    body: RefundIn,
    ctx: Context,
    principal: Manager,
    key: IdempotencyKey,
) -> JSONResponse:
    """Refund all or part of what was captured. More than was captured (all refunds together)
    is a 409 `refund-exceeds-captured`; while a dispute is open, 409 `refunds-frozen`."""

    async def work() -> tuple[int, BaseModel]:
        async with ctx.db.session() as session:
            row = await payments.get(session, payment_id, lock=True)
            made = await refunds.refund(
                ctx,
                session,
                row,
                Money(amount=body.amount_minor, currency=row.currency),
                request_key=f"api:{principal.user_id}:{key}",
                reason=body.reason,
                source=f"api:{principal.user_id}",
            )
        return 201, RefundOut(**dict(made._mapping))

    return await idempotent(
        ctx, owner=principal.user_id, key=key, body=[payment_id, body.model_dump()], work=work
    )


@router.get("/{payment_id}/refunds", response_model=list[RefundOut])
async def list_refunds(payment_id: PaymentPath, ctx: Context, principal: Caller) -> list[RefundOut]:
    await _visible(ctx, payment_id, principal)
    async with ctx.db.session() as session:
        rows = (
            await session.execute(
                select(REFUNDS)
                .where(REFUNDS.c.payment_id == payment_id)
                .order_by(REFUNDS.c.created_at)
            )
        ).all()
    return [RefundOut(**dict(r._mapping)) for r in rows]
