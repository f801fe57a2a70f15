"""The order service's catalog: a projection of `product.changed` / `product.deleted` into
`catalog_variants`, what carts are priced from.

Each event carries the product's version; a row only moves forward (an event older than what a
row holds changes nothing, so redelivery and replays are harmless). A variant is `sellable`
while its product is `active` and the variant is still part of it; variants dropped from a
product or of a deleted product stay as unsellable rows (carts holding them say so). A deletion
that arrives before the product was seen leaves unsellable placeholder rows at its version, so a
stale `product.changed` replayed later cannot bring the variants back.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import and_, func, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.events.serde import Event
from services.order.tables import CATALOG_VARIANTS as CV

CHANGED, DELETED = "product.changed", "product.deleted"
TOPICS = {CHANGED: ("product.changed.v1",), DELETED: ("product.deleted.v1",)}
SEPARATOR = " — "


def variant_name(product: str, variant: str) -> str:
    return f"{product}{SEPARATOR}{variant}" if variant.strip() else product


async def product_changed(event: Event, session: AsyncSession) -> None:
    await apply_changed(session, event.payload)


async def product_deleted(event: Event, session: AsyncSession) -> None:
    await apply_deleted(session, event.payload)


async def apply_changed(session: AsyncSession, p: dict[str, Any]) -> None:
    product_id = uuid.UUID(p["product_id"])
    version = int(p["version"])
    active = p["status"] == "active"
    variants = sorted(p.get("variants") or [], key=lambda v: v["variant_id"])
    kept = [uuid.UUID(v["variant_id"]) for v in variants]
    if variants:
        stmt = pg_insert(CV).values(
            [
                {
                    "variant_id": uuid.UUID(v["variant_id"]),
                    "product_id": product_id,
                    "sku": v["sku"],
                    "name": variant_name(p["name"], v.get("name") or ""),
                    "price_minor": int(v["price_amount"]),
                    "currency": v["currency"],
                    "sellable": active,
                    "weight_grams": v.get("weight_grams"),
                    "product_version": version,
                }
                for v in variants
            ]
        )
        x = stmt.excluded
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[CV.c.variant_id],
                set_={
                    "product_id": x.product_id,
                    "sku": x.sku,
                    "name": x.name,
                    "price_minor": x.price_minor,
                    "currency": x.currency,
                    "sellable": x.sellable,
                    "weight_grams": x.weight_grams,
                    "product_version": x.product_version,
                    "updated_at": func.now(),
                },
                where=CV.c.product_version <= x.product_version,
            )
        )
    dropped = [CV.c.product_id == product_id, CV.c.product_version <= version]
    if kept:
        dropped.append(CV.c.variant_id.not_in(kept))
    await session.execute(  # variants dropped from the product
        update(CV)
        .where(and_(*dropped))
        .values(sellable=False, product_version=version, updated_at=func.now())
    )


async def apply_deleted(session: AsyncSession, p: dict[str, Any]) -> None:
    product_id = uuid.UUID(p["product_id"])
    version = int(p["version"])
    ids = sorted(uuid.UUID(v) for v in p.get("variant_ids") or [])
    if ids:  # placeholders for variants never seen, so a late older change stays ignored
        stmt = pg_insert(CV).values(
            [
                {
                    "variant_id": i,
                    "product_id": product_id,
                    "sku": "",
                    "name": "",
                    "price_minor": 0,
                    "currency": "XXX",
                    "sellable": False,
                    "product_version": version,
                }
                for i in ids
            ]
        )
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[CV.c.variant_id],
                set_={"sellable": False, "product_version": version, "updated_at": func.now()},
                where=CV.c.product_version <= version,
            )
        )
    await session.execute(
        update(CV)
        .where(and_(CV.c.product_id == product_id, CV.c.product_version <= version))
        .values(sellable=False, product_version=version, updated_at=func.now())
    )
