"""Attribute definitions (name, type, allowed values) and the check of values against them.

Attributes without a definition are free text; a defined attribute's values must fit its type:
`number` a decimal number, `boolean` "true"/"false", `enum` one of its allowed values.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.http.errors import Conflict, NotFound
from services.product.errors import InvalidAttribute
from services.product.tables import ATTRIBUTES

AttributeType = Literal["text", "number", "boolean", "enum"]


class AttributeIn(BaseModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[a-z][a-z0-9_]*$")
    type: AttributeType = "text"
    allowed_values: list[
        Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00]+$")]
    ] = Field(default_factory=list, max_length=500)

    @model_validator(mode="after")
    def _values_for_enums(self) -> AttributeIn:
        if (self.type == "enum") != bool(self.allowed_values):
            raise ValueError("allowed_values is required for enum attributes and only for them")
        return self


class Attribute(AttributeIn):
    id: str


def problem_with(definition: AttributeIn, value: str) -> str | None:
    """Why `value` does not fit `definition`, or None when it does."""
    if definition.type == "number":
        try:
            Decimal(value)
        except InvalidOperation:
            return f"{definition.name} must be a number, got {value!r}"
    elif definition.type == "boolean" and value not in ("true", "false"):
        return f"{definition.name} must be true or false, got {value!r}"
    elif definition.type == "enum" and value not in definition.allowed_values:
        return f"{definition.name} must be one of {definition.allowed_values}, got {value!r}"
    return None


async def check(session: AsyncSession, values: Iterable[Mapping[str, str]]) -> None:
    """Raise InvalidAttribute when a value breaks its attribute's definition."""
    pairs = [(k, v) for mapping in values for k, v in mapping.items()]
    if not pairs:
        return
    rows = await session.execute(
        select(ATTRIBUTES).where(ATTRIBUTES.c.name.in_({k for k, _ in pairs}))
    )
    definitions = {r.name: _attribute(r) for r in rows}
    for name, value in pairs:
        if name in definitions and (reason := problem_with(definitions[name], value)):
            raise InvalidAttribute(reason)


def _attribute(row: object) -> Attribute:
    return Attribute(
        id=str(row.id),  # type: ignore[attr-defined]
        name=row.name,  # type: ignore[attr-defined]
        type=row.type,  # type: ignore[attr-defined]
        allowed_values=row.allowed_values,  # type: ignore[attr-defined]
    )


async def create(session: AsyncSession, body: AttributeIn) -> Attribute:
    row = (
        await session.execute(
            insert(ATTRIBUTES)
            .values(id=uuid.uuid4(), **body.model_dump())
            .on_conflict_do_nothing()
            .returning(ATTRIBUTES)
        )
    ).one_or_none()
    if row is None:
        raise Conflict(f"attribute {body.name!r} exists")
    return _attribute(row)


async def listing(session: AsyncSession) -> list[Attribute]:
    rows = await session.execute(select(ATTRIBUTES).order_by(ATTRIBUTES.c.name))
    return [_attribute(r) for r in rows]


async def remove(session: AsyncSession, attribute_id: uuid.UUID) -> None:
    gone = await session.execute(
        delete(ATTRIBUTES).where(ATTRIBUTES.c.id == attribute_id).returning(ATTRIBUTES.c.id)
    )
    if gone.scalar_one_or_none() is None:
        raise NotFound(f"no attribute {attribute_id}")
