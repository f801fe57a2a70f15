"""FX rates for settlement (staff): presentment currency → the settlement currency."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field
from sqlalchemy import select

from kommerce.http.responses import problems
from services.payment import fx
from services.payment.api.common import Context, Manager, Reader
from services.payment.tables import FX_RATES

router = APIRouter(prefix="/v1/fx-rates", tags=["fx"], responses=problems(400, 401, 403, 422))

CODE = r"^[A-Z]{3}$"


class RateIn(BaseModel):
    rate: Decimal = Field(gt=0, max_digits=24, decimal_places=12, description="quote per base")


class RateOut(BaseModel):
    base: str
    quote: str
    rate: str
    updated_at: datetime


@router.get("", response_model=list[RateOut])
async def rates(ctx: Context, _: Reader) -> list[RateOut]:
    async with ctx.db.session() as session:
        rows = (await session.execute(select(FX_RATES).order_by(FX_RATES.c.base))).all()
    return [
        RateOut(base=r.base, quote=r.quote, rate=str(r.rate), updated_at=r.updated_at) for r in rows
    ]


@router.put("/{base}/{quote}", response_model=RateOut)
async def set_rate(
    base: Annotated[str, Path(pattern=CODE)],
    quote: Annotated[str, Path(pattern=CODE)],
    body: RateIn,
    ctx: Context,
    _: Manager,
) -> RateOut:
    """Set the rate for new payments in `base` settling in `quote` (a PUT: repeatable)."""
    async with ctx.db.session() as session:
        await fx.set_rate(session, base, quote, body.rate)
        row = (
            await session.execute(
                select(FX_RATES).where(FX_RATES.c.base == base, FX_RATES.c.quote == quote)
            )
        ).one()
    return RateOut(base=row.base, quote=row.quote, rate=str(row.rate), updated_at=row.updated_at)
