"""Saved payment methods: the shopper attaches a provider token (created by Stripe.js in the
browser, so card data never reaches us) to their provider customer; we keep what may be shown
(brand, last 4, expiry, issuing country) and the token."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from kommerce.http.responses import problems
from services.payment.api.common import Caller, Context, IdempotencyKey, idempotent
from services.payment.tables import CUSTOMERS, PAYMENT_METHODS

router = APIRouter(
    prefix="/v1/me/payment-methods", tags=["payment methods"], responses=problems(400, 401, 422)
)


class AttachIn(BaseModel):
    payment_method: str = Field(pattern=r"^pm_[A-Za-z0-9_]{1,250}$", description="a Stripe token")
    provider: Literal["stripe"] = "stripe"
    email: str | None = Field(default=None, max_length=320)


class MethodOut(BaseModel):
    reference: str
    provider: str
    brand: str
    last4: str
    exp_month: int | None
    exp_year: int | None
    country: str | None
    created_at: datetime


@router.post("", status_code=201, response_model=MethodOut, responses=problems(409, 428, 503))
async def attach(
    body: AttachIn, ctx: Context, principal: Caller, key: IdempotencyKey
) -> JSONResponse:
    """Attach a payment method to the caller (their provider customer is created once)."""
    gateway = ctx.gateway(body.provider)

    async def work() -> tuple[int, BaseModel]:
        async with ctx.db.session() as session:
            customer = (
                await session.execute(
                    select(CUSTOMERS.c.provider_customer).where(
                        CUSTOMERS.c.customer_id == principal.user_id,
                        CUSTOMERS.c.provider == body.provider,
                    )
                )
            ).scalar_one_or_none()
            if customer is None:
                customer = await gateway.ensure_customer(
                    principal.user_id,
                    email=body.email,
                    idempotency_key=f"customer:{principal.user_id}",
                )
                await session.execute(
                    pg_insert(CUSTOMERS)
                    .values(
                        customer_id=principal.user_id,
                        provider=body.provider,
                        provider_customer=customer,
                    )
                    .on_conflict_do_nothing()
                )
            saved = await gateway.attach_payment_method(
                customer, body.payment_method, idempotency_key=f"attach:{customer}:{key}"
            )
            row = (
                await session.execute(
                    pg_insert(PAYMENT_METHODS)
                    .values(
                        customer_id=principal.user_id,
                        provider=body.provider,
                        reference=saved.reference,
                        brand=saved.brand[:50],
                        last4=saved.last4[:4],
                        exp_month=saved.exp_month,
                        exp_year=saved.exp_year,
                        country=saved.country,
                    )
                    .on_conflict_do_update(
                        index_elements=["customer_id", "provider", "reference"],
                        set_={"exp_month": saved.exp_month, "exp_year": saved.exp_year},
                    )
                    .returning(*PAYMENT_METHODS.c)
                )
            ).one()
        return 201, MethodOut(**dict(row._mapping))

    return await idempotent(
        ctx, owner=principal.user_id, key=key, body=body.model_dump(), work=work
    )


@router.get("", response_model=list[MethodOut])
async def list_methods(ctx: Context, principal: Caller) -> list[MethodOut]:
    async with ctx.db.session() as session:
        rows = (
            await session.execute(
                select(PAYMENT_METHODS)
                .where(PAYMENT_METHODS.c.customer_id == principal.user_id)
                .order_by(PAYMENT_METHODS.c.created_at)
            )
        ).all()
    return [MethodOut(**dict(r._mapping)) for r in rows]
