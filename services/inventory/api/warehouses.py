"""Warehouses: where stock is kept (code, name, location, country)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Path, status
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from kommerce.http.errors import Conflict, NotFound
from kommerce.http.responses import problems
from services.inventory.api.models import (
    Location,
    WarehouseIn,
    WarehouseOut,
    WarehouseUpdate,
)
from services.inventory.context import Ctx, Reader, Writer
from services.inventory.tables import WAREHOUSES

router = APIRouter(
    prefix="/v1/warehouses", tags=["warehouses"], responses=problems(400, 401, 403, 404, 409, 422)
)
CodePath = Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _out(r: Any) -> WarehouseOut:
    return WarehouseOut(
        id=r.id,
        code=r.code,
        name=r.name,
        location=Location(latitude=r.latitude, longitude=r.longitude),
        country=r.country,
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=WarehouseOut)
async def create_warehouse(body: WarehouseIn, principal: Writer, c: Ctx) -> WarehouseOut:
    async with c.db.session() as session:
        row = (
            await session.execute(
                pg_insert(WAREHOUSES)
                .values(
                    id=uuid.uuid4(),
                    code=body.code,
                    name=body.name,
                    latitude=body.location.latitude,
                    longitude=body.location.longitude,
                    country=body.country,
                )
                .on_conflict_do_nothing(index_elements=["code"])
                .returning(WAREHOUSES)
            )
        ).one_or_none()
    if row is None:
        raise Conflict(f"warehouse {body.code!r} exists", code=body.code)
    return _out(row)


@router.get("", response_model=list[WarehouseOut])
async def list_warehouses(principal: Reader, c: Ctx) -> list[WarehouseOut]:
    async with c.db.session() as session:
        rows = (await session.execute(select(WAREHOUSES).order_by(WAREHOUSES.c.code))).all()
    return [_out(r) for r in rows]


@router.get("/{code}", response_model=WarehouseOut)
async def get_warehouse(principal: Reader, c: Ctx, code: str = CodePath) -> WarehouseOut:
    async with c.db.session() as session:
        row = (
            await session.execute(select(WAREHOUSES).where(WAREHOUSES.c.code == code))
        ).one_or_none()
    if row is None:
        raise NotFound(f"no warehouse {code!r}")
    return _out(row)


@router.put("/{code}", response_model=WarehouseOut)
async def update_warehouse(
    body: WarehouseUpdate, principal: Writer, c: Ctx, code: str = CodePath
) -> WarehouseOut:
    async with c.db.session() as session:
        row = (
            await session.execute(
                update(WAREHOUSES)
                .where(WAREHOUSES.c.code == code)
                .values(
                    name=body.name,
                    latitude=body.location.latitude,
                    longitude=body.location.longitude,
                    country=body.country,
                )
                .returning(WAREHOUSES)
            )
        ).one_or_none()
    if row is None:
        raise NotFound(f"no warehouse {code!r}")
    return _out(row)
