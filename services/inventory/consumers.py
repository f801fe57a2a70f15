"""What the inventory service consumes: product events (which variants exist, their SKU and
price), its own `inventory.stock_changed` (keeps the Redis available-to-sell cache in sync
on every replica, not only the one that made the change) and, as a saga participant, the
`saga.command`s of `inventory.commands.v1` (participant.py)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.events.consumer import ConsumedMessage
from kommerce.events.serde import decode
from services.inventory.ats import AtsCache
from services.inventory.events import STOCK_CHANGED, registry
from services.inventory.participant import Participant
from services.inventory.tables import VARIANTS

TOPICS = {
    "product.changed": "product.changed.v1",
    "product.deleted": "product.deleted.v1",
    STOCK_CHANGED: "inventory.stock_changed.v1",
}


async def _lock_in_order(session: AsyncSession, condition: ColumnElement[bool]) -> None:
    """Lock the variant rows in id order first, as stock writers do (stock.lock_variants), so
    an UPDATE of several rows never deadlocks with a reservation of several variants."""
    await session.execute(
        select(VARIANTS.c.variant_id)
        .where(condition)
        .order_by(VARIANTS.c.variant_id)
        .with_for_update()
    )


async def product_changed(session: AsyncSession, payload: dict[str, Any]) -> None:
    product_id = uuid.UUID(payload["product_id"])
    version = int(payload["version"])
    variants = sorted(payload["variants"], key=lambda v: v["variant_id"])
    kept = [uuid.UUID(v["variant_id"]) for v in variants]
    await _lock_in_order(
        session, or_(VARIANTS.c.product_id == product_id, VARIANTS.c.variant_id.in_(kept))
    )
    if variants:
        stmt = pg_insert(VARIANTS).values(
            [
                {
                    "variant_id": uuid.UUID(v["variant_id"]),
                    "product_id": product_id,
                    "sku": v["sku"],
                    "price_amount": v["price_amount"],
                    "currency": v["currency"],
                    "product_version": version,
                    "deleted": False,
                }
                for v in variants
            ]
        )
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=["variant_id"],
                set_={
                    "product_id": stmt.excluded.product_id,
                    "sku": stmt.excluded.sku,
                    "price_amount": stmt.excluded.price_amount,
                    "currency": stmt.excluded.currency,
                    "product_version": stmt.excluded.product_version,
                    "deleted": False,
                    "updated_at": func.now(),
                },
                where=VARIANTS.c.product_version <= stmt.excluded.product_version,
            )
        )
    await session.execute(  # variants dropped from the product
        update(VARIANTS)
        .where(
            and_(
                VARIANTS.c.product_id == product_id,
                VARIANTS.c.variant_id.not_in(kept),
                VARIANTS.c.product_version <= version,
            )
        )
        .values(deleted=True, product_version=version, updated_at=func.now())
    )


async def product_deleted(session: AsyncSession, payload: dict[str, Any]) -> None:
    product_id = uuid.UUID(payload["product_id"])
    ids = [uuid.UUID(v) for v in payload.get("variant_ids", [])]
    condition = or_(VARIANTS.c.variant_id.in_(ids), VARIANTS.c.product_id == product_id)
    await _lock_in_order(session, condition)
    await session.execute(
        update(VARIANTS).where(condition).values(deleted=True, updated_at=func.now())
    )


def handler(ats: AtsCache, participant: Participant | None = None):  # type: ignore[no-untyped-def]
    async def handle(message: ConsumedMessage, session: AsyncSession) -> None:
        if message.value is None:
            return
        event = decode(registry(), key=message.key, value=message.value, headers=message.headers)
        if event.type == "product.changed":
            await product_changed(session, event.payload)
        elif event.type == "product.deleted":
            await product_deleted(session, event.payload)
        elif event.type == STOCK_CHANGED:
            p = event.payload
            await ats.put(p["variant_id"], int(p["available"]), int(p["version"]))
        elif event.type == "saga.command" and participant is not None:
            await participant.handle(session, event)

    return handle
