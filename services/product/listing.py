"""Listing products: keyset pagination by id, filters on the relational columns."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import String, cast, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.product.documents import Status
from services.product.tables import CATEGORIES, PRODUCTS, Ltree


class ProductSummary(BaseModel):
    id: str
    slug: str
    name: str
    status: Status
    brand_id: str | None
    category_id: str | None
    version: int
    updated_at: datetime


class ProductPage(BaseModel):
    items: list[ProductSummary]
    next_cursor: str | None


async def page(
    session: AsyncSession,
    *,
    category_path: str | None,
    brand_id: uuid.UUID | None,
    status: Status | None,
    after: uuid.UUID | None,
    limit: int,
) -> ProductPage:
    p = PRODUCTS.c
    query = select(
        p.id, p.slug, p.name, p.status, p.brand_id, p.category_id, p.version, p.updated_at
    )
    if category_path is not None:  # the category's whole subtree (GiST on categories.path)
        in_subtree = select(CATEGORIES.c.id).where(
            CATEGORIES.c.path.op("<@")(cast(literal(category_path, String), Ltree()))
        )
        query = query.where(p.category_id.in_(in_subtree))
    if brand_id is not None:
        query = query.where(p.brand_id == brand_id)
    if status is not None:
        query = query.where(p.status == status)
    if after is not None:
        query = query.where(p.id > after)
    rows = list(await session.execute(query.order_by(p.id).limit(limit + 1)))
    items = [
        ProductSummary(
            id=str(r.id),
            slug=r.slug,
            name=r.name,
            status=r.status,
            brand_id=str(r.brand_id) if r.brand_id else None,
            category_id=str(r.category_id) if r.category_id else None,
            version=r.version,
            updated_at=r.updated_at,
        )
        for r in rows[:limit]
    ]
    more = len(rows) > limit
    return ProductPage(items=items, next_cursor=items[-1].id if more and items else None)
