"""Disputes for staff: open ones by evidence deadline, and marking evidence submitted."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel
from sqlalchemy import select

from kommerce.http.errors import NotFound
from kommerce.http.responses import problems
from services.payment import disputes
from services.payment.api.common import Context, Manager, Reader
from services.payment.tables import DISPUTES

router = APIRouter(prefix="/v1/disputes", tags=["disputes"], responses=problems(401, 403, 422))


class DisputeOut(BaseModel):
    dispute_id: str
    payment_id: str
    provider_reference: str
    amount_minor: int
    currency: str
    reason: str
    provider_status: str
    status: Literal["open", "won", "lost"]
    evidence_due_by: datetime | None
    evidence_submitted_at: datetime | None
    opened_at: datetime
    closed_at: datetime | None


@router.get("", response_model=list[DisputeOut])
async def list_disputes(
    ctx: Context,
    _: Reader,
    status: Annotated[Literal["open", "won", "lost"] | None, Query()] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DisputeOut]:
    """Disputes, the nearest evidence deadline first."""
    query = select(DISPUTES).order_by(
        DISPUTES.c.evidence_due_by.asc().nulls_last(), DISPUTES.c.opened_at
    )
    if status is not None:
        query = query.where(DISPUTES.c.status == status)
    async with ctx.db.session() as session:
        rows = (await session.execute(query.limit(limit))).all()
    return [DisputeOut(**dict(r._mapping)) for r in rows]


@router.post("/{dispute_id}/evidence-submitted", response_model=DisputeOut, responses=problems(404))
async def evidence_submitted(
    dispute_id: Annotated[str, Path(pattern=r"^dsp_[0-9a-f]{24}$")], ctx: Context, _: Manager
) -> DisputeOut:
    """Record that the evidence was submitted (in the provider's dashboard)."""
    async with ctx.db.session() as session:
        row = await disputes.submit_evidence(session, dispute_id)
    if row is None:
        raise NotFound(f"no dispute {dispute_id}")
    return DisputeOut(**dict(row._mapping))
