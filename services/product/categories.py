"""The category tree, materialised as `ltree` paths of category ids (hex labels).

A subtree is `path <@ :p`, the ancestors `path @> :p` (both GiST-indexed, one query each), and
moving a subtree rewrites every path under it in one UPDATE. Every change emits
`product.category_changed`; a move emits one per category of the moved subtree, with its new path.
Products keep their `category_id`, so a move changes no product row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Select, String, cast, exists, func, literal, select, update
from sqlalchemy.dialects.postgresql import aggregate_order_by, insert
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.http.errors import Conflict, NotFound
from services.product import events
from services.product.errors import CategoryCycle, CategoryNotEmpty
from services.product.slugs import slugify
from services.product.tables import CATEGORIES, PRODUCTS, Ltree

Change = Literal["created", "updated", "moved", "deleted"]
C = CATEGORIES.c


def _select() -> Select[Any]:
    return select(C.id, C.parent_id, C.name, C.slug, cast(C.path, String).label("path"))


def _ltree(path: str) -> Any:
    return cast(literal(path, String), Ltree())


@dataclass(frozen=True)
class Category:
    id: uuid.UUID
    parent_id: uuid.UUID | None
    name: str
    slug: str
    path: str

    @property
    def depth(self) -> int:
        return self.path.count(".")

    @property
    def path_ids(self) -> list[str]:
        return [str(uuid.UUID(hex=label)) for label in self.path.split(".")]


def _category(row: Any) -> Category:
    return Category(row.id, row.parent_id, row.name, row.slug, row.path)


async def get(session: AsyncSession, category_id: uuid.UUID, *, lock: bool = False) -> Category:
    query = _select().where(C.id == category_id)
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).one_or_none()
    if row is None:
        raise NotFound(f"no category {category_id}")
    return _category(row)


async def ancestors(session: AsyncSession, category: Category) -> list[Category]:
    """From the root down to `category` itself (one GiST-indexed query)."""
    rows = await session.execute(
        _select().where(C.path.op("@>")(_ltree(category.path))).order_by(func.nlevel(C.path))
    )
    return [_category(r) for r in rows]


async def subtree(session: AsyncSession, category: Category) -> list[Category]:
    """`category` and every descendant, parents before children (one GiST-indexed query)."""
    rows = await session.execute(
        _select()
        .where(C.path.op("<@")(_ltree(category.path)))
        .order_by(func.nlevel(C.path), C.name)
    )
    return [_category(r) for r in rows]


async def roots(session: AsyncSession) -> list[Category]:
    rows = await session.execute(_select().where(C.parent_id.is_(None)).order_by(C.name))
    return [_category(r) for r in rows]


async def _emit(
    session: AsyncSession, category: Category, names: list[str], change: Change
) -> None:
    await events.emit(
        session,
        events.CATEGORY_CHANGED,
        {
            "category_id": str(category.id),
            "change": change,
            "parent_id": str(category.parent_id) if category.parent_id else None,
            "name": category.name,
            "slug": category.slug,
            "path_ids": category.path_ids,
            "path_names": names,
            "changed_at": datetime.now(UTC),
        },
    )


async def names_of(session: AsyncSession, category: Category) -> list[str]:
    return [c.name for c in await ancestors(session, category)]


async def _insert(session: AsyncSession, name: str, parent: Category | None) -> Category | None:
    """The new category, or None when `parent` already has a child called `name`."""
    new_id = uuid.uuid4()
    path = f"{parent.path}.{new_id.hex}" if parent else new_id.hex
    row = (
        await session.execute(
            insert(CATEGORIES)
            .values(
                id=new_id,
                parent_id=parent.id if parent else None,
                name=name,
                slug=slugify(name),
                path=_ltree(path),
            )
            .on_conflict_do_nothing(constraint="categories_parent_name_key")
            .returning(C.id, C.parent_id, C.name, C.slug, cast(C.path, String).label("path"))
        )
    ).one_or_none()
    return _category(row) if row else None


async def _child(session: AsyncSession, parent: Category | None, name: str) -> Category | None:
    parent_id = parent.id if parent else None
    row = (
        await session.execute(
            _select().where(C.parent_id.is_not_distinct_from(parent_id), C.name == name)
        )
    ).one_or_none()
    return _category(row) if row else None


async def create(session: AsyncSession, name: str, parent_id: uuid.UUID | None) -> Category:
    parent = await get(session, parent_id) if parent_id else None
    created = await _insert(session, name, parent)
    if created is None:
        raise Conflict(f"a category named {name!r} already exists there")
    await _emit(session, created, await names_of(session, created), "created")
    return created


async def find_or_create_path(session: AsyncSession, names: list[str]) -> Category | None:
    """The category at `names` from the root, creating missing levels (safe concurrently)."""
    parent: Category | None = None
    walked: list[str] = []
    for name in names:
        walked.append(name)
        found = await _child(session, parent, name)
        if found is None:
            found = await _insert(session, name, parent)
            if found is not None:
                await _emit(session, found, list(walked), "created")
            else:  # created by a concurrent transaction meanwhile
                found = await _child(session, parent, name)
                if found is None:
                    raise Conflict(f"category {name!r} is being created concurrently; retry")
        parent = found
    return parent


async def rename(session: AsyncSession, category_id: uuid.UUID, name: str) -> Category:
    current = await get(session, category_id, lock=True)
    if name == current.name:
        return current
    if await _child(session, await _parent(session, current), name) is not None:
        raise Conflict(f"a category named {name!r} already exists there")
    await session.execute(
        update(CATEGORIES)
        .where(C.id == category_id)
        .values(name=name, slug=slugify(name), updated_at=func.now())
    )
    renamed = await get(session, category_id)
    await _emit(session, renamed, await names_of(session, renamed), "updated")
    return renamed


async def _parent(session: AsyncSession, category: Category) -> Category | None:
    return await get(session, category.parent_id) if category.parent_id else None


def moves_into_itself(category: Category, new_parent: Category | None) -> bool:
    """True when `new_parent` is `category` or one of its descendants (a cycle)."""
    if new_parent is None:
        return False
    return new_parent.path == category.path or new_parent.path.startswith(category.path + ".")


async def move(
    session: AsyncSession, category_id: uuid.UUID, new_parent_id: uuid.UUID | None
) -> list[Category]:
    """Move the subtree under `new_parent_id` (None: to the root) in one UPDATE."""
    current = await get(session, category_id, lock=True)
    new_parent = await get(session, new_parent_id, lock=True) if new_parent_id else None
    if moves_into_itself(current, new_parent):
        raise CategoryCycle(
            f"category {category_id} cannot move under itself or its own descendant"
        )
    if current.parent_id == (new_parent.id if new_parent else None):
        return await subtree(session, current)
    if await _child(session, new_parent, current.name) is not None:
        raise Conflict(f"a category named {current.name!r} already exists there")
    tail = func.subpath(C.path, current.depth, type_=Ltree())
    new_path = _ltree(new_parent.path).op("||", return_type=Ltree())(tail) if new_parent else tail
    await session.execute(
        update(CATEGORIES)
        .where(C.path.op("<@")(_ltree(current.path)))
        .values(path=new_path, updated_at=func.now())
    )
    await session.execute(
        update(CATEGORIES)
        .where(C.id == category_id)
        .values(parent_id=new_parent.id if new_parent else None)
    )
    moved = await subtree(session, await get(session, category_id))
    names = await _path_names(session, moved[0])
    for category in moved:
        await _emit(session, category, names[category.id], "moved")
    return moved


async def _path_names(session: AsyncSession, top: Category) -> dict[uuid.UUID, list[str]]:
    """Every category of `top`'s subtree -> the names from the root to it (one query)."""
    a = CATEGORIES.alias("a")
    rows = await session.execute(
        select(
            C.id, func.array_agg(aggregate_order_by(a.c.name, func.nlevel(a.c.path))).label("names")
        )
        .join(a, a.c.path.op("@>")(C.path))
        .where(C.path.op("<@")(_ltree(top.path)))
        .group_by(C.id)
    )
    return {r.id: list(r.names) for r in rows}


async def delete(session: AsyncSession, category_id: uuid.UUID) -> None:
    current = await get(session, category_id, lock=True)
    busy = (
        await session.execute(
            select(
                exists().where(C.parent_id == category_id)
                | exists().where(PRODUCTS.c.category_id == category_id)
            )
        )
    ).scalar_one()
    if busy:
        raise CategoryNotEmpty(f"category {category_id} still has subcategories or products")
    names = await names_of(session, current)
    await session.execute(CATEGORIES.delete().where(C.id == category_id))
    await _emit(session, current, names, "deleted")
