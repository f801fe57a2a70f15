"""Products and their variants, price history and related products (`/v1/products`).

Reads are public; writes need `catalog:write`. Every response with one product carries its
version as ETag; PUT needs If-Match (428 without it, 409 when the version moved on).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response
from pydantic import BaseModel

from kommerce.auth.claims import Principal
from kommerce.http.errors import Conflict, NotFound, Problem
from kommerce.http.responses import problems
from services.product import catalog, categories, listing, prices, related, views
from services.product.api.common import expected_version, set_etag
from services.product.context import ProductContext, actor, ctx, writer
from services.product.documents import ProductIn, Status, VariantIn

router = APIRouter(prefix="/v1/products", tags=["products"], responses=problems(400, 422))
WRITE = (401, 403, 404, 409)
IfMatch = Annotated[
    str | None, Header(description="the product's ETag; writes fail with 409 if it moved on")
]


class UpsertResult(BaseModel):
    product_id: str
    created: bool
    changed: bool


class NaiveTime(Problem):
    status, slug, title = 422, "invalid-period", "A time without a zone or out of range"


EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


class SkuChange(Problem):
    status, slug, title = 422, "sku-change", "A variant's SKU cannot change"


async def _product(
    c: ProductContext, product_id: uuid.UUID, response: Response
) -> views.ProductOut:
    async with c.db.session() as session:
        product = await views.load(session, product_id)
    set_etag(response, product.version)
    return product


@router.get("", response_model=listing.ProductPage, responses=problems(404))
async def list_products(
    c: Annotated[ProductContext, Depends(ctx)],
    category_id: Annotated[uuid.UUID | None, Query(description="this category's subtree")] = None,
    brand_id: uuid.UUID | None = None,
    status: Status | None = None,
    cursor: Annotated[uuid.UUID | None, Query(description="next_cursor of the last page")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> listing.ProductPage:
    async with c.db.session() as session:
        path = None
        if category_id is not None:
            path = (await categories.get(session, category_id)).path
        return await listing.page(
            session,
            category_path=path,
            brand_id=brand_id,
            status=status,
            after=cursor,
            limit=limit,
        )


@router.post(
    "", status_code=201, response_model=views.ProductOut, responses=problems(401, 403, 409)
)
async def create_product(
    body: ProductIn,
    response: Response,
    c: Annotated[ProductContext, Depends(ctx)],
    principal: Annotated[Principal, Depends(writer)],
) -> views.ProductOut:
    async with c.db.session() as session:
        product_id = await catalog.create(session, body, actor=actor(principal))
    response.headers["Location"] = f"/v1/products/{product_id}"
    return await _product(c, product_id, response)


@router.put("/by-slug/{slug}", response_model=UpsertResult, responses=problems(401, 403, 409))
async def upsert_product(
    slug: str,
    body: ProductIn,
    response: Response,
    c: Annotated[ProductContext, Depends(ctx)],
    principal: Annotated[Principal, Depends(writer)],
) -> UpsertResult:
    """Create or replace the product `slug` (idempotent: an unchanged document is a no-op)."""
    if body.slug != slug:
        raise Conflict(f"the body's slug {body.slug!r} is not {slug!r}")
    async with c.db.session() as session:
        done = await catalog.upsert_by_slug(session, body, actor=actor(principal))
    if done.created:
        response.status_code = 201
    return UpsertResult(product_id=done.product_id, created=done.created, changed=done.changed)


@router.get("/{product_id}", response_model=views.ProductOut, responses=problems(404))
async def get_product(
    product_id: uuid.UUID, response: Response, c: Annotated[ProductContext, Depends(ctx)]
) -> views.ProductOut:
    return await _product(c, product_id, response)


@router.put("/{product_id}", response_model=views.ProductOut, responses=problems(400, *WRITE, 428))
async def replace_product(
    product_id: uuid.UUID,
    body: ProductIn,
    response: Response,
    c: Annotated[ProductContext, Depends(ctx)],
    principal: Annotated[Principal, Depends(writer)],
    if_match: IfMatch = None,
) -> views.ProductOut:
    version = expected_version(if_match, required=True)
    async with c.db.session() as session:
        await catalog.replace(
            session, product_id, body, actor=actor(principal), expected_version=version
        )
    return await _product(c, product_id, response)


@router.delete("/{product_id}", status_code=204, responses=problems(400, *WRITE))
async def delete_product(
    product_id: uuid.UUID,
    c: Annotated[ProductContext, Depends(ctx)],
    principal: Annotated[Principal, Depends(writer)],
    if_match: IfMatch = None,
) -> Response:
    async with c.db.session() as session:
        await catalog.delete_product(
            session, product_id, expected_version=expected_version(if_match)
        )
    return Response(status_code=204)


# -- variants -------------------------------------------------------------------------------


@router.get(
    "/{product_id}/variants", response_model=list[views.VariantOut], responses=problems(404)
)
async def list_variants(
    product_id: uuid.UUID, response: Response, c: Annotated[ProductContext, Depends(ctx)]
) -> list[views.VariantOut]:
    return (await _product(c, product_id, response)).variants


def _variant(product: views.ProductOut, variant_id: uuid.UUID) -> views.VariantOut:
    for variant in product.variants:
        if variant.id == str(variant_id):
            return variant
    raise NotFound(f"product {product.id} has no variant {variant_id}")


@router.post(
    "/{product_id}/variants",
    status_code=201,
    response_model=views.VariantOut,
    responses=problems(400, *WRITE),
)
async def add_variant(
    product_id: uuid.UUID,
    body: VariantIn,
    response: Response,
    c: Annotated[ProductContext, Depends(ctx)],
    principal: Annotated[Principal, Depends(writer)],
    if_match: IfMatch = None,
) -> views.VariantOut:
    def add(doc: ProductIn) -> ProductIn:
        if any(v.sku == body.sku for v in doc.variants):
            raise Conflict(f"product {product_id} already has sku {body.sku!r}")
        return doc.model_copy(update={"variants": [*doc.variants, body]})

    async with c.db.session() as session:
        await catalog.edit(
            session,
            product_id,
            add,
            actor=actor(principal),
            expected_version=expected_version(if_match),
        )
    product = await _product(c, product_id, response)
    created = next(v for v in product.variants if v.sku == body.sku)
    response.headers["Location"] = f"/v1/products/{product_id}/variants/{created.id}"
    return created


@router.get(
    "/{product_id}/variants/{variant_id}",
    response_model=views.VariantOut,
    responses=problems(404),
)
async def get_variant(
    product_id: uuid.UUID,
    variant_id: uuid.UUID,
    response: Response,
    c: Annotated[ProductContext, Depends(ctx)],
) -> views.VariantOut:
    return _variant(await _product(c, product_id, response), variant_id)


@router.put(
    "/{product_id}/variants/{variant_id}",
    response_model=views.VariantOut,
    responses=problems(400, *WRITE),
)
async def replace_variant(
    product_id: uuid.UUID,
    variant_id: uuid.UUID,
    body: VariantIn,
    response: Response,
    c: Annotated[ProductContext, Depends(ctx)],
    principal: Annotated[Principal, Depends(writer)],
    if_match: IfMatch = None,
) -> views.VariantOut:
    async with c.db.session() as session:
        current = _variant(await views.load(session, product_id), variant_id)
        if body.sku != current.sku:
            raise SkuChange(f"variant {variant_id} has sku {current.sku!r}; add a new variant")

        def swap(doc: ProductIn) -> ProductIn:
            variants = [body if v.sku == body.sku else v for v in doc.variants]
            return doc.model_copy(update={"variants": variants})

        await catalog.edit(
            session,
            product_id,
            swap,
            actor=actor(principal),
            expected_version=expected_version(if_match),
        )
    return _variant(await _product(c, product_id, response), variant_id)


@router.delete(
    "/{product_id}/variants/{variant_id}", status_code=204, responses=problems(400, *WRITE)
)
async def delete_variant(
    product_id: uuid.UUID,
    variant_id: uuid.UUID,
    c: Annotated[ProductContext, Depends(ctx)],
    principal: Annotated[Principal, Depends(writer)],
    if_match: IfMatch = None,
) -> Response:
    async with c.db.session() as session:
        sku = _variant(await views.load(session, product_id), variant_id).sku

        def drop(doc: ProductIn) -> ProductIn:
            return doc.model_copy(update={"variants": [v for v in doc.variants if v.sku != sku]})

        await catalog.edit(
            session,
            product_id,
            drop,
            actor=actor(principal),
            expected_version=expected_version(if_match),
        )
    return Response(status_code=204)


@router.get(
    "/{product_id}/variants/{variant_id}/prices",
    response_model=list[prices.PricePeriod],
    responses=problems(404),
)
async def price_history(
    product_id: uuid.UUID,
    variant_id: uuid.UUID,
    c: Annotated[ProductContext, Depends(ctx)],
    start: Annotated[datetime | None, Query(alias="from", description="inclusive")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="exclusive")] = None,
) -> list[prices.PricePeriod]:
    """The prices in effect at some moment of [from, to); either end may be open."""
    if any(t is not None and t.tzinfo is None for t in (start, end)):
        raise NaiveTime("from and to need a time zone, e.g. 2026-01-01T00:00:00Z")
    if any(t is not None and not EARLIEST <= t <= LATEST for t in (start, end)):
        raise NaiveTime(f"from and to must lie between {EARLIEST:%Y} and {LATEST:%Y}")
    async with c.db.session() as session:
        _variant(await views.load(session, product_id), variant_id)
        return await prices.in_period(session, variant_id, start, end)


@router.get(
    "/{product_id}/related", response_model=list[related.RelatedProduct], responses=problems(404)
)
async def related_products(
    product_id: uuid.UUID,
    c: Annotated[ProductContext, Depends(ctx)],
    limit: Annotated[int | None, Query(ge=1, le=100)] = None,
) -> list[related.RelatedProduct]:
    """Same category first, then bought together (see docs/product-service.md, scoring)."""
    async with c.db.session() as session:
        product = await views.load(session, product_id)
        category_id = uuid.UUID(product.category.id) if product.category else None
        return await related.related(
            session, product_id, category_id, limit=limit or c.settings.related_limit
        )
