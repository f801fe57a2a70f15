"""The category tree (`/v1/categories`): create, rename, move, delete-if-empty, subtree,
ancestors. Reads are public; writes need `catalog:write`."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field

from kommerce.auth.claims import Principal
from kommerce.http.responses import problems
from services.product import categories
from services.product.context import ProductContext, ctx, writer

router = APIRouter(prefix="/v1/categories", tags=["categories"], responses=problems(400, 422))
WRITE = problems(401, 403, 404, 409)
CategoryName = Annotated[
    str, Field(min_length=1, max_length=120, pattern=r"^[^\x00]*[^\s\x00][^\x00]*$")
]


class CategoryIn(BaseModel):
    name: CategoryName
    parent_id: uuid.UUID | None = None


class Rename(BaseModel):
    name: CategoryName


class Move(BaseModel):
    parent_id: uuid.UUID | None = Field(description="the new parent; null moves to the root")


class CategoryOut(BaseModel):
    id: str
    parent_id: str | None
    name: str
    slug: str
    depth: int
    path_ids: list[str]

    @classmethod
    def of(cls, c: categories.Category) -> CategoryOut:
        return cls(
            id=str(c.id),
            parent_id=str(c.parent_id) if c.parent_id else None,
            name=c.name,
            slug=c.slug,
            depth=c.depth,
            path_ids=c.path_ids,
        )


@router.get("", response_model=list[CategoryOut])
async def list_roots(c: Annotated[ProductContext, Depends(ctx)]) -> list[CategoryOut]:
    async with c.db.session() as session:
        return [CategoryOut.of(x) for x in await categories.roots(session)]


@router.post("", status_code=201, response_model=CategoryOut, responses=WRITE)
async def create_category(
    body: CategoryIn,
    c: Annotated[ProductContext, Depends(ctx)],
    _: Annotated[Principal, Depends(writer)],
) -> CategoryOut:
    async with c.db.session() as session:
        return CategoryOut.of(await categories.create(session, body.name.strip(), body.parent_id))


@router.get("/{category_id}", response_model=CategoryOut, responses=problems(404))
async def get_category(
    category_id: uuid.UUID, c: Annotated[ProductContext, Depends(ctx)]
) -> CategoryOut:
    async with c.db.session() as session:
        return CategoryOut.of(await categories.get(session, category_id))


@router.get("/{category_id}/subtree", response_model=list[CategoryOut], responses=problems(404))
async def get_subtree(
    category_id: uuid.UUID, c: Annotated[ProductContext, Depends(ctx)]
) -> list[CategoryOut]:
    """The category and all its descendants, parents before children."""
    async with c.db.session() as session:
        top = await categories.get(session, category_id)
        return [CategoryOut.of(x) for x in await categories.subtree(session, top)]


@router.get("/{category_id}/ancestors", response_model=list[CategoryOut], responses=problems(404))
async def get_ancestors(
    category_id: uuid.UUID, c: Annotated[ProductContext, Depends(ctx)]
) -> list[CategoryOut]:
    """From the root down to the category itself."""
    async with c.db.session() as session:
        at = await categories.get(session, category_id)
        return [CategoryOut.of(x) for x in await categories.ancestors(session, at)]


@router.patch("/{category_id}", response_model=CategoryOut, responses=WRITE)
async def rename_category(
    category_id: uuid.UUID,
    body: Rename,
    c: Annotated[ProductContext, Depends(ctx)],
    _: Annotated[Principal, Depends(writer)],
) -> CategoryOut:
    async with c.db.session() as session:
        return CategoryOut.of(await categories.rename(session, category_id, body.name.strip()))


@router.post("/{category_id}/move", response_model=list[CategoryOut], responses=WRITE)
async def move_category(
    category_id: uuid.UUID,
    body: Move,
    c: Annotated[ProductContext, Depends(ctx)],
    _: Annotated[Principal, Depends(writer)],
) -> list[CategoryOut]:
    """Move the category with its subtree (409 category-cycle under itself); the moved subtree."""
    async with c.db.session() as session:
        return [
            CategoryOut.of(x) for x in await categories.move(session, category_id, body.parent_id)
        ]


@router.delete("/{category_id}", status_code=204, responses=WRITE)
async def delete_category(
    category_id: uuid.UUID,
    c: Annotated[ProductContext, Depends(ctx)],
    _: Annotated[Principal, Depends(writer)],
) -> Response:
    """Only an empty category (no subcategories, no products): else 409 category-not-empty."""
    async with c.db.session() as session:
        await categories.delete(session, category_id)
    return Response(status_code=204)
