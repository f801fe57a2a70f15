"""Brands (`/v1/brands`) and attribute definitions (`/v1/attributes`)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field

from kommerce.auth.claims import Principal
from kommerce.http.responses import problems
from services.product import attributes, brands
from services.product.context import ProductContext, ctx, writer

router = APIRouter(tags=["brands and attributes"], responses=problems(400, 422))
WRITE = problems(401, 403, 404, 409)


class BrandIn(BaseModel):
    name: str = Field(min_length=1, max_length=120, pattern=r"^[^\x00]*[^\s\x00][^\x00]*$")


@router.get("/v1/brands", response_model=list[brands.Brand])
async def list_brands(c: Annotated[ProductContext, Depends(ctx)]) -> list[brands.Brand]:
    async with c.db.session() as session:
        return await brands.listing(session)


@router.post("/v1/brands", status_code=201, response_model=brands.Brand, responses=WRITE)
async def create_brand(
    body: BrandIn,
    c: Annotated[ProductContext, Depends(ctx)],
    _: Annotated[Principal, Depends(writer)],
) -> brands.Brand:
    async with c.db.session() as session:
        return await brands.create(session, body.name.strip())


@router.get("/v1/brands/{brand_id}", response_model=brands.Brand, responses=problems(404))
async def get_brand(
    brand_id: uuid.UUID, c: Annotated[ProductContext, Depends(ctx)]
) -> brands.Brand:
    async with c.db.session() as session:
        return await brands.get(session, brand_id)


@router.patch("/v1/brands/{brand_id}", response_model=brands.Brand, responses=WRITE)
async def rename_brand(
    brand_id: uuid.UUID,
    body: BrandIn,
    c: Annotated[ProductContext, Depends(ctx)],
    _: Annotated[Principal, Depends(writer)],
) -> brands.Brand:
    async with c.db.session() as session:
        return await brands.rename(session, brand_id, body.name.strip())


@router.delete("/v1/brands/{brand_id}", status_code=204, responses=WRITE)
async def delete_brand(
    brand_id: uuid.UUID,
    c: Annotated[ProductContext, Depends(ctx)],
    _: Annotated[Principal, Depends(writer)],
) -> Response:
    async with c.db.session() as session:
        await brands.remove(session, brand_id)
    return Response(status_code=204)


@router.get("/v1/attributes", response_model=list[attributes.Attribute])
async def list_attributes(
    c: Annotated[ProductContext, Depends(ctx)],
) -> list[attributes.Attribute]:
    async with c.db.session() as session:
        return await attributes.listing(session)


@router.post(
    "/v1/attributes", status_code=201, response_model=attributes.Attribute, responses=WRITE
)
async def create_attribute(
    body: attributes.AttributeIn,
    c: Annotated[ProductContext, Depends(ctx)],
    _: Annotated[Principal, Depends(writer)],
) -> attributes.Attribute:
    async with c.db.session() as session:
        return await attributes.create(session, body)


@router.delete("/v1/attributes/{attribute_id}", status_code=204, responses=WRITE)
async def delete_attribute(
    attribute_id: uuid.UUID,
    c: Annotated[ProductContext, Depends(ctx)],
    _: Annotated[Principal, Depends(writer)],
) -> Response:
    async with c.db.session() as session:
        await attributes.remove(session, attribute_id)
    return Response(status_code=204)
