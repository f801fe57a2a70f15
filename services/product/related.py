"""Related products until the ML service exists: same category first, then bought together.

Scoring: candidates are the other active products that share the product's category or were
bought in the same order at least once. They are ranked by (1) same category before other
categories, (2) how many orders contained both products (`co_occurrence.orders`), (3) the most
recently updated first, (4) id, so the order is stable. So a same-category product is always
ahead of a cross-category one, and among either group the most often co-bought wins.

Co-occurrence comes from `order.placed`: each order's lines are mapped from variants to their
products, and every ordered pair of distinct products in it gets +1 (both directions stored, so
a lookup is one index range). Large orders count only their first `MAX_PRODUCTS_PER_ORDER`
products, keeping a single event's work bounded. The consumer's inbox makes a redelivered order
count once.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from itertools import permutations

from pydantic import BaseModel
from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.events.consumer import ConsumedMessage, PoisonMessage
from kommerce.events.emitter import registry
from kommerce.events.serde import DecodeError, decode_payload
from services.product.tables import CO_OCCURRENCE, PRODUCTS, VARIANTS

ORDER_PLACED_TOPIC = "order.placed.v1"
MAX_PRODUCTS_PER_ORDER = 50


class RelatedProduct(BaseModel):
    id: str
    slug: str
    name: str
    same_category: bool
    bought_together: int
    updated_at: datetime


def pairs(product_ids: list[uuid.UUID]) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Every ordered pair of distinct products of one order (first N distinct products)."""
    distinct = list(dict.fromkeys(product_ids))[:MAX_PRODUCTS_PER_ORDER]
    return list(permutations(distinct, 2))


async def on_order_placed(message: ConsumedMessage, session: AsyncSession) -> None:
    """Consumer handler: count the order's product pairs."""
    try:
        _, payload = decode_payload(registry(), message.value or b"")
        variant_ids = [uuid.UUID(line["variant_id"]) for line in payload["lines"]]
    except (DecodeError, KeyError, ValueError) as exc:
        raise PoisonMessage(f"unreadable order.placed: {exc}") from exc
    if len(variant_ids) < 2:
        return
    rows = await session.execute(
        select(VARIANTS.c.id, VARIANTS.c.product_id).where(VARIANTS.c.id.in_(variant_ids))
    )
    product_of = {r.id: r.product_id for r in rows}
    ordered = [product_of[v] for v in variant_ids if v in product_of]
    together = pairs(ordered)
    if not together:
        return
    statement = insert(CO_OCCURRENCE).values(
        [{"product_id": a, "other_id": b, "orders": 1} for a, b in together]
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["product_id", "other_id"],
            set_={"orders": CO_OCCURRENCE.c.orders + 1},
        )
    )


async def related(
    session: AsyncSession, product_id: uuid.UUID, category_id: uuid.UUID | None, *, limit: int
) -> list[RelatedProduct]:
    p, co = PRODUCTS.c, CO_OCCURRENCE.c
    same = (p.category_id == category_id) if category_id else literal(False)
    together = func.coalesce(co.orders, 0)
    query = (
        select(
            p.id,
            p.slug,
            p.name,
            p.updated_at,
            case((same, True), else_=False).label("same_category"),
            together.label("bought_together"),
        )
        .select_from(PRODUCTS)
        .outerjoin(CO_OCCURRENCE, and_(co.product_id == product_id, co.other_id == p.id))
        .where(p.id != product_id, p.status == "active", same | co.orders.is_not(None))
        .order_by(same.desc(), together.desc(), p.updated_at.desc(), p.id)
        .limit(limit)
    )
    return [
        RelatedProduct(
            id=str(r.id),
            slug=r.slug,
            name=r.name,
            same_category=bool(r.same_category),
            bought_together=r.bought_together,
            updated_at=r.updated_at,
        )
        for r in await session.execute(query)
    ]
