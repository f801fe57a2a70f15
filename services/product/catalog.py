"""Writing products: create, replace, upsert by slug, delete, all through one `_write`.

Every write locks the product row, compares the incoming document with the stored one (an equal
document is a no-op: no new version, no event, which makes re-imports idempotent), resolves the
brand and category by name (created if missing), syncs the variants by SKU (a SKU keeps its
variant id), records each price change in the history, bumps `version` and emits
`product.changed` (the whole document) plus `product.price_changed` per new or repriced variant,
all in the caller's transaction together with the outbox rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.http.errors import Conflict, NotFound
from services.product import attributes, brands, categories, events, prices, views
from services.product.documents import ProductIn, VariantIn
from services.product.errors import VersionConflict
from services.product.tables import CO_OCCURRENCE, PRODUCTS, VARIANTS


@dataclass(frozen=True)
class Upserted:
    product_id: str
    created: bool
    changed: bool


async def upsert_by_slug(session: AsyncSession, doc: ProductIn, *, actor: str) -> Upserted:
    """Create the product `doc.slug` or bring it to `doc`; an unchanged document is a no-op."""
    current = await _lock(session, PRODUCTS.c.slug == doc.slug)
    if current is None:
        new_id = await _insert_shell(session, doc, actor=actor)
        if new_id is not None:
            await _write(session, new_id, doc, actor=actor, previous=None)
            return Upserted(product_id=str(new_id), created=True, changed=True)
        current = await _lock(session, PRODUCTS.c.slug == doc.slug)  # a concurrent insert won
        if current is None:
            raise Conflict(f"product {doc.slug!r} changed concurrently; retry")
    changed = await _write(session, current.id, doc, actor=actor, previous=current)
    return Upserted(product_id=str(current.id), created=False, changed=changed)


async def create(session: AsyncSession, doc: ProductIn, *, actor: str) -> uuid.UUID:
    new_id = await _insert_shell(session, doc, actor=actor)
    if new_id is None:
        raise Conflict(f"a product with slug {doc.slug!r} exists")
    await _write(session, new_id, doc, actor=actor, previous=None)
    return new_id


async def replace(
    session: AsyncSession,
    product_id: uuid.UUID,
    doc: ProductIn,
    *,
    actor: str,
    expected_version: int | None,
) -> bool:
    """Replace the whole document (optimistic concurrency on `expected_version`)."""
    current = await lock_version(session, product_id, expected_version)
    if doc.slug != current.slug:
        taken = await session.execute(select(PRODUCTS.c.id).where(PRODUCTS.c.slug == doc.slug))
        if taken.first() is not None:
            raise Conflict(f"a product with slug {doc.slug!r} exists")
    return await _write(session, product_id, doc, actor=actor, previous=current)


async def edit(
    session: AsyncSession,
    product_id: uuid.UUID,
    change: Callable[[ProductIn], ProductIn],
    *,
    actor: str,
    expected_version: int | None,
) -> bool:
    """Apply `change` to the current document under the row lock (variants, partial edits)."""
    current = await lock_version(session, product_id, expected_version)
    doc = change((await views.load(session, product_id)).document())
    return await _write(session, product_id, doc, actor=actor, previous=current)


async def lock_version(
    session: AsyncSession, product_id: uuid.UUID, expected_version: int | None
) -> Any:
    current = await _lock(session, PRODUCTS.c.id == product_id)
    if current is None:
        raise NotFound(f"no product {product_id}")
    if expected_version is not None and expected_version != current.version:
        raise VersionConflict(
            f"product {product_id} is at version {current.version}, not {expected_version}",
            current_version=current.version,
        )
    return current


async def delete_product(
    session: AsyncSession, product_id: uuid.UUID, *, expected_version: int | None
) -> None:
    current = await lock_version(session, product_id, expected_version)
    variant_ids = (
        await session.execute(select(VARIANTS.c.id).where(VARIANTS.c.product_id == product_id))
    ).scalars()
    payload = {
        "product_id": str(product_id),
        "version": current.version + 1,
        "variant_ids": [str(v) for v in variant_ids],
        "deleted_at": datetime.now(UTC),
    }
    await session.execute(delete(PRODUCTS).where(PRODUCTS.c.id == product_id))
    await session.execute(
        delete(CO_OCCURRENCE).where(
            (CO_OCCURRENCE.c.product_id == product_id) | (CO_OCCURRENCE.c.other_id == product_id)
        )
    )
    await events.emit(session, events.PRODUCT_DELETED, payload)


async def touch(session: AsyncSession, product_id: uuid.UUID, *, actor: str) -> None:
    """A new version for a change outside the document (images): bump and emit."""
    await session.execute(
        update(PRODUCTS)
        .where(PRODUCTS.c.id == product_id)
        .values(version=PRODUCTS.c.version + 1, updated_by=actor, updated_at=datetime.now(UTC))
    )
    await _emit_changed(session, product_id)


async def _lock(session: AsyncSession, where: Any) -> Any:
    return (await session.execute(select(PRODUCTS).where(where).with_for_update())).one_or_none()


async def _insert_shell(session: AsyncSession, doc: ProductIn, *, actor: str) -> uuid.UUID | None:
    """Claim the slug with a version-0 row; None when another product holds it."""
    new_id = uuid.uuid4()
    inserted = await session.execute(
        insert(PRODUCTS)
        .values(
            id=new_id,
            slug=doc.slug,
            name=doc.name,
            status=doc.status,
            version=0,
            created_by=actor,
            updated_by=actor,
        )
        .on_conflict_do_nothing(index_elements=["slug"])
        .returning(PRODUCTS.c.id)
    )
    found: uuid.UUID | None = inserted.scalar_one_or_none()
    return found


async def _write(
    session: AsyncSession,
    product_id: uuid.UUID,
    doc: ProductIn,
    *,
    actor: str,
    previous: Any,
) -> bool:
    if previous is not None:
        stored = await views.load(session, product_id)
        if stored.document() == doc:
            return False
    await attributes.check(session, [doc.attributes, *(v.attributes for v in doc.variants)])
    await _check_skus_free(session, product_id, doc.variants)
    brand_id = await brands.find_or_create(session, doc.brand) if doc.brand else None
    category = await categories.find_or_create_path(session, doc.category)
    now = datetime.now(UTC)
    images = previous.document.get("images", []) if previous is not None else []
    await session.execute(
        update(PRODUCTS)
        .where(PRODUCTS.c.id == product_id)
        .values(
            slug=doc.slug,
            name=doc.name,
            status=doc.status,
            brand_id=brand_id,
            category_id=category.id if category else None,
            document={
                "description": doc.description,
                "attributes": doc.attributes,
                "seo": doc.seo,
                "images": images,
            },
            version=PRODUCTS.c.version + 1,
            updated_by=actor,
            updated_at=now,
        )
    )
    await _sync_variants(session, product_id, doc.variants, actor=actor, now=now)
    await _emit_changed(session, product_id)
    return True


async def _check_skus_free(
    session: AsyncSession, product_id: uuid.UUID, variants: list[VariantIn]
) -> None:
    if not variants:
        return
    taken = await session.execute(
        select(VARIANTS.c.sku).where(
            VARIANTS.c.sku.in_([v.sku for v in variants]), VARIANTS.c.product_id != product_id
        )
    )
    skus = sorted(taken.scalars())
    if skus:
        raise Conflict(f"sku(s) {skus} belong to another product", skus=skus)


async def _sync_variants(
    session: AsyncSession,
    product_id: uuid.UUID,
    variants: list[VariantIn],
    *,
    actor: str,
    now: datetime,
) -> None:
    """Insert, update and delete variants so the product has exactly `variants` (by SKU).

    New variants go in one INSERT; their prices and price events are written in one statement
    each too, so a product costs the same few statements however many variants it has.
    """
    rows = await session.execute(select(VARIANTS).where(VARIANTS.c.product_id == product_id))
    existing = {r.sku: r for r in rows}
    wanted = {v.sku for v in variants}
    gone = [r.id for sku, r in existing.items() if sku not in wanted]
    if gone:
        await session.execute(delete(VARIANTS).where(VARIANTS.c.id.in_(gone)))
    new_rows: list[dict[str, Any]] = []
    repriced: list[prices.PriceChange] = []
    for position, variant in enumerate(variants):
        values = {
            "name": variant.name,
            "attributes": variant.attributes,
            "price_amount": variant.price.amount,
            "currency": variant.price.currency,
            "weight_grams": variant.weight_grams,
            "position": position,
        }
        row = existing.get(variant.sku)
        if row is None:
            variant_id = uuid.uuid4()
            new_rows.append(
                {"id": variant_id, "product_id": product_id, "sku": variant.sku, **values}
            )
            old_amount = None
        else:
            variant_id = row.id
            await session.execute(update(VARIANTS).where(VARIANTS.c.id == row.id).values(values))
            if (row.price_amount, row.currency) == (variant.price.amount, variant.price.currency):
                continue
            old_amount = row.price_amount if row.currency == variant.price.currency else None
        repriced.append(prices.PriceChange(variant_id, variant.sku, old_amount, variant.price))
    if new_rows:
        await session.execute(insert(VARIANTS), new_rows)
    await prices.record_many(session, repriced, at=now, actor=actor)
    await events.emit.many(
        session,
        [
            (
                events.PRICE_CHANGED,
                {
                    "product_id": str(product_id),
                    "variant_id": str(change.variant_id),
                    "sku": change.sku,
                    "old_amount": change.old_amount,
                    "new_amount": change.price.amount,
                    "currency": change.price.currency,
                    "changed_at": now,
                },
            )
            for change in repriced
        ],
    )


async def _emit_changed(session: AsyncSession, product_id: uuid.UUID) -> None:
    product = await views.load(session, product_id)
    await events.emit(
        session,
        events.PRODUCT_CHANGED,
        views.changed_payload(product, changed_at=product.updated_at),
    )
