"""Suppliers (lead time, the variants they supply at what cost) and purchase suggestions."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response, status
from sqlalchemy import and_, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from kommerce.http.errors import Conflict, NotFound
from kommerce.http.responses import problems
from kommerce.money import Money
from services.inventory import purchasing
from services.inventory.api.models import (
    SuggestionOut,
    SupplierIn,
    SupplierOut,
    SupplierVariantIn,
    SupplierVariantOut,
)
from services.inventory.context import Ctx, Reader, Writer
from services.inventory.tables import SUPPLIER_VARIANTS, SUPPLIERS

router = APIRouter(tags=["suppliers"], responses=problems(400, 401, 403, 404, 409, 422))


async def _supplier(c: Ctx, supplier_id: uuid.UUID) -> SupplierOut:
    async with c.db.session() as session:
        row = (
            await session.execute(select(SUPPLIERS).where(SUPPLIERS.c.id == supplier_id))
        ).one_or_none()
        if row is None:
            raise NotFound(f"no supplier {supplier_id}")
        variants = (
            await session.execute(
                select(SUPPLIER_VARIANTS)
                .where(SUPPLIER_VARIANTS.c.supplier_id == supplier_id)
                .order_by(SUPPLIER_VARIANTS.c.variant_id)
            )
        ).all()
    return SupplierOut(
        id=row.id,
        name=row.name,
        lead_time_days=row.lead_time_days,
        variants=[
            SupplierVariantOut(
                variant_id=v.variant_id, cost=Money(amount=v.cost_amount, currency=v.currency)
            )
            for v in variants
        ],
    )


@router.post("/v1/suppliers", status_code=status.HTTP_201_CREATED, response_model=SupplierOut)
async def create_supplier(body: SupplierIn, principal: Writer, c: Ctx) -> SupplierOut:
    async with c.db.session() as session:
        created = (
            await session.execute(
                pg_insert(SUPPLIERS)
                .values(id=uuid.uuid4(), name=body.name, lead_time_days=body.lead_time_days)
                .on_conflict_do_nothing(index_elements=["name"])
                .returning(SUPPLIERS.c.id)
            )
        ).scalar_one_or_none()
    if created is None:
        raise Conflict(f"supplier {body.name!r} exists")
    return await _supplier(c, created)


@router.get("/v1/suppliers", response_model=list[SupplierOut])
async def list_suppliers(principal: Reader, c: Ctx) -> list[SupplierOut]:
    async with c.db.session() as session:
        rows = (await session.execute(select(SUPPLIERS).order_by(SUPPLIERS.c.name))).all()
    return [SupplierOut(id=r.id, name=r.name, lead_time_days=r.lead_time_days) for r in rows]


@router.get("/v1/suppliers/{supplier_id}", response_model=SupplierOut)
async def get_supplier(supplier_id: uuid.UUID, principal: Reader, c: Ctx) -> SupplierOut:
    return await _supplier(c, supplier_id)


@router.put("/v1/suppliers/{supplier_id}/variants/{variant_id}", response_model=SupplierOut)
async def supply_variant(
    supplier_id: uuid.UUID,
    variant_id: uuid.UUID,
    body: SupplierVariantIn,
    principal: Writer,
    c: Ctx,
) -> SupplierOut:
    """The supplier supplies the variant at this unit cost (replaces an earlier cost)."""
    await _supplier(c, supplier_id)
    async with c.db.session() as session:
        stmt = pg_insert(SUPPLIER_VARIANTS).values(
            supplier_id=supplier_id,
            variant_id=variant_id,
            cost_amount=body.cost.amount,
            currency=body.cost.currency,
        )
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=["supplier_id", "variant_id"],
                set_={"cost_amount": stmt.excluded.cost_amount, "currency": stmt.excluded.currency},
            )
        )
    return await _supplier(c, supplier_id)


@router.delete(
    "/v1/suppliers/{supplier_id}/variants/{variant_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
)
async def stop_supplying(
    supplier_id: uuid.UUID, variant_id: uuid.UUID, principal: Writer, c: Ctx
) -> Response:
    async with c.db.session() as session:
        gone = (
            await session.execute(
                delete(SUPPLIER_VARIANTS)
                .where(
                    and_(
                        SUPPLIER_VARIANTS.c.supplier_id == supplier_id,
                        SUPPLIER_VARIANTS.c.variant_id == variant_id,
                    )
                )
                .returning(SUPPLIER_VARIANTS.c.variant_id)
            )
        ).one_or_none()
    if gone is None:
        raise NotFound(f"supplier {supplier_id} does not supply variant {variant_id}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _suggestion(s: purchasing.Suggestion) -> SuggestionOut:
    fields: dict[str, Any] = {
        k: v for k, v in vars(s).items() if k not in ("unit_cost_amount", "currency")
    }
    cost = (
        Money(amount=s.unit_cost_amount, currency=s.currency)
        if s.unit_cost_amount is not None and s.currency
        else None
    )
    return SuggestionOut(**fields, unit_cost=cost)


@router.get("/v1/purchase-suggestions", response_model=list[SuggestionOut])
async def purchase_suggestions(principal: Reader, c: Ctx) -> list[SuggestionOut]:
    """What to order now (see docs/inventory-service.md for the formula)."""
    async with c.db.session() as session:
        found = await purchasing.suggestions(session, velocity_days=c.settings.velocity_days)
    return [_suggestion(s) for s in found]
