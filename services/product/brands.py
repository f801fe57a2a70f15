"""Brands, found by name (created on first use by imports)."""

from __future__ import annotations

import uuid

from pydantic import BaseModel
from sqlalchemy import delete, exists, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.http.errors import Conflict, NotFound
from services.product.slugs import slugify
from services.product.tables import BRANDS, PRODUCTS


class Brand(BaseModel):
    id: str
    name: str
    slug: str


def _brand(row: object) -> Brand:
    return Brand(id=str(row.id), name=row.name, slug=row.slug)  # type: ignore[attr-defined]


async def find_or_create(session: AsyncSession, name: str) -> uuid.UUID:
    found: uuid.UUID | None = (
        await session.execute(select(BRANDS.c.id).where(BRANDS.c.name == name))
    ).scalar_one_or_none()
    if found is not None:
        return found
    new_id = uuid.uuid4()
    inserted: uuid.UUID | None = (
        await session.execute(
            insert(BRANDS)
            .values(id=new_id, name=name, slug=_free_slug(name, new_id))
            .on_conflict_do_nothing(index_elements=["name"])
            .returning(BRANDS.c.id)
        )
    ).scalar_one_or_none()
    if inserted is not None:
        return inserted
    winner: uuid.UUID = (
        await session.execute(select(BRANDS.c.id).where(BRANDS.c.name == name))
    ).scalar_one()
    return winner


def _free_slug(name: str, brand_id: uuid.UUID) -> str:
    # Names are unique but their slugs may collide ("A&B" / "A-B"): a short id suffix keeps
    # slugs unique without a lookup loop.
    return f"{slugify(name)}-{brand_id.hex[:6]}"


async def create(session: AsyncSession, name: str) -> Brand:
    new_id = uuid.uuid4()
    row = (
        await session.execute(
            insert(BRANDS)
            .values(id=new_id, name=name, slug=_free_slug(name, new_id))
            .on_conflict_do_nothing()
            .returning(BRANDS)
        )
    ).one_or_none()
    if row is None:
        raise Conflict(f"a brand named {name!r} exists")
    return _brand(row)


async def listing(session: AsyncSession) -> list[Brand]:
    return [_brand(r) for r in await session.execute(select(BRANDS).order_by(BRANDS.c.name))]


async def get(session: AsyncSession, brand_id: uuid.UUID) -> Brand:
    row = (await session.execute(select(BRANDS).where(BRANDS.c.id == brand_id))).one_or_none()
    if row is None:
        raise NotFound(f"no brand {brand_id}")
    return _brand(row)


async def rename(session: AsyncSession, brand_id: uuid.UUID, name: str) -> Brand:
    await get(session, brand_id)
    try:
        async with session.begin_nested():
            await session.execute(update(BRANDS).where(BRANDS.c.id == brand_id).values(name=name))
    except IntegrityError as exc:
        raise Conflict(f"a brand named {name!r} exists") from exc
    return await get(session, brand_id)


async def remove(session: AsyncSession, brand_id: uuid.UUID) -> None:
    await get(session, brand_id)
    used = (
        await session.execute(select(exists().where(PRODUCTS.c.brand_id == brand_id)))
    ).scalar_one()
    if used:
        raise Conflict(f"brand {brand_id} still has products")
    await session.execute(delete(BRANDS).where(BRANDS.c.id == brand_id))
