"""The sandbox's read-only API: what it authorized and refunded (staff: `orders:read`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.auth.claims import Principal
from kommerce.data.db import Database
from kommerce.http.errors import NotFound
from kommerce.http.responses import problems
from services.payment_sandbox.tables import AUTHORIZATIONS, REFUNDS

PAYMENT_ID = r"^pi_sandbox_[0-9a-f]{1,64}$"
ORDER_ID = r"^[A-Za-z0-9._:-]{1,200}$"


class RefundOut(BaseModel):
    refund_id: str
    amount_minor: int
    currency: str
    provider_refund_id: str
    created_at: datetime


class PaymentOut(BaseModel):
    payment_id: str
    order_id: str
    customer_id: str
    amount_minor: int
    currency: str
    status: Literal["authorized", "voided", "captured"]
    payment_method: str
    refunded_minor: int
    refunds: list[RefundOut]
    created_at: datetime
    updated_at: datetime


async def _reader(request: Request) -> Principal:
    principal: Principal = await request.app.state.auth.require("orders:read")(request)
    return principal


Reader = Annotated[Principal, Depends(_reader)]

router = APIRouter(prefix="/v1/payments", tags=["payments"], responses=problems(401, 403, 422))


async def _payments(db: Database, condition: Any) -> list[PaymentOut]:
    async with db.session() as session:
        return await _load(session, condition)


async def _load(session: AsyncSession, condition: Any) -> list[PaymentOut]:
    rows = (await session.execute(select(AUTHORIZATIONS).where(condition))).mappings().all()
    out = []
    for row in rows:
        refunds = [
            RefundOut(**dict(r))
            for r in (
                await session.execute(
                    select(
                        REFUNDS.c.refund_id,
                        REFUNDS.c.amount_minor,
                        REFUNDS.c.currency,
                        REFUNDS.c.provider_refund_id,
                        REFUNDS.c.created_at,
                    )
                    .where(REFUNDS.c.payment_id == row["payment_id"])
                    .order_by(REFUNDS.c.created_at, REFUNDS.c.refund_id)
                )
            )
            .mappings()
            .all()
        ]
        out.append(
            PaymentOut(
                **dict(row), refunded_minor=sum(r.amount_minor for r in refunds), refunds=refunds
            )
        )
    return out


@router.get("/{payment_id}", response_model=PaymentOut, responses=problems(404))
async def get_payment(
    request: Request,
    _principal: Reader,
    payment_id: Annotated[str, Path(pattern=PAYMENT_ID)],
) -> PaymentOut:
    """An authorization and its refunds."""
    found = await _payments(request.app.state.db, AUTHORIZATIONS.c.payment_id == payment_id)
    if not found:
        raise NotFound(f"no payment {payment_id}")
    return found[0]


@router.get("", response_model=list[PaymentOut])
async def payments_of_order(
    request: Request,
    _principal: Reader,
    order_id: Annotated[str, Query(pattern=ORDER_ID)],
) -> list[PaymentOut]:
    """The order's authorization (none or one) and its refunds."""
    return await _payments(request.app.state.db, AUTHORIZATIONS.c.order_id == order_id)
