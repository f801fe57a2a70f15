"""A product as the API returns it and `product.changed` carries it, read in a few queries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.http.errors import NotFound
from kommerce.money import Money
from services.product import categories
from services.product.documents import ProductIn, Status, VariantIn
from services.product.tables import BRANDS, PRODUCTS, VARIANTS


class BrandRef(BaseModel):
    id: str
    name: str


class CategoryRef(BaseModel):
    id: str
    name: str
    path_ids: list[str]
    path_names: list[str]


class VariantOut(BaseModel):
    id: str
    sku: str
    name: str
    attributes: dict[str, str]
    price: Money
    weight_grams: int | None


class ImageOut(BaseModel):
    id: str
    url: str
    content_type: str
    width: int
    height: int
    size_bytes: int
    thumbnails: dict[str, str] = Field(description="width in pixels -> URL")


class ProductOut(BaseModel):
    id: str
    slug: str
    name: str
    description: str
    status: Status
    brand: BrandRef | None
    category: CategoryRef | None
    attributes: dict[str, str]
    seo: dict[str, str]
    variants: list[VariantOut]
    images: list[ImageOut]
    version: int
    created_at: datetime
    updated_at: datetime

    def document(self) -> ProductIn:
        """The product as an import document (what `upsert_by_slug` compares against)."""
        return ProductIn(
            slug=self.slug,
            name=self.name,
            description=self.description,
            status=self.status,
            brand=self.brand.name if self.brand else None,
            category=self.category.path_names if self.category else [],
            attributes=self.attributes,
            seo=self.seo,
            variants=[
                VariantIn(
                    sku=v.sku,
                    name=v.name,
                    attributes=v.attributes,
                    price=v.price,
                    weight_grams=v.weight_grams,
                )
                for v in self.variants
            ],
        )


async def load(session: AsyncSession, product_id: uuid.UUID) -> ProductOut:
    row = (
        await session.execute(
            select(PRODUCTS, BRANDS.c.name.label("brand_name"))
            .outerjoin(BRANDS, BRANDS.c.id == PRODUCTS.c.brand_id)
            .where(PRODUCTS.c.id == product_id)
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"no product {product_id}")
    category = None
    if row.category_id is not None:
        chain = await categories.ancestors(session, await categories.get(session, row.category_id))
        category = CategoryRef(
            id=str(row.category_id),
            name=chain[-1].name,
            path_ids=[str(c.id) for c in chain],
            path_names=[c.name for c in chain],
        )
    variants = await session.execute(
        select(VARIANTS)
        .where(VARIANTS.c.product_id == product_id)
        .order_by(VARIANTS.c.position, VARIANTS.c.sku)
    )
    document: dict[str, Any] = row.document
    return ProductOut(
        id=str(row.id),
        slug=row.slug,
        name=row.name,
        description=document.get("description", ""),
        status=row.status,
        brand=BrandRef(id=str(row.brand_id), name=row.brand_name) if row.brand_id else None,
        category=category,
        attributes=document.get("attributes", {}),
        seo=document.get("seo", {}),
        variants=[
            VariantOut(
                id=str(v.id),
                sku=v.sku,
                name=v.name,
                attributes=v.attributes,
                price=Money(amount=v.price_amount, currency=v.currency),
                weight_grams=v.weight_grams,
            )
            for v in variants
        ],
        images=[ImageOut.model_validate(i) for i in document.get("images", [])],
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def changed_payload(product: ProductOut, *, changed_at: datetime) -> dict[str, Any]:
    """The `product.changed` payload: the whole document after the change."""
    return {
        "product_id": product.id,
        "version": product.version,
        "change": "created" if product.version == 1 else "updated",
        "slug": product.slug,
        "name": product.name,
        "description": product.description,
        "status": product.status,
        "brand": product.brand.name if product.brand else None,
        "category_id": product.category.id if product.category else None,
        "category_path": product.category.path_names if product.category else [],
        "category_ids": product.category.path_ids if product.category else [],
        "attributes": product.attributes,
        "variants": [
            {
                "variant_id": v.id,
                "sku": v.sku,
                "name": v.name,
                "attributes": v.attributes,
                "price_amount": v.price.amount,
                "currency": v.price.currency,
                "weight_grams": v.weight_grams,
            }
            for v in product.variants
        ],
        "image_urls": [i.url for i in product.images],
        "changed_at": changed_at,
    }
