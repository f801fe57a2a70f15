"""The product document as clients and the importer give it (the fixed JSON Lines import format).

One product per document: `slug` identifies the product, each variant's `sku` the variant;
`category` is the path of category names from the root (missing categories are created) and
`brand` a brand name (created if missing). Unknown fields are rejected, so a typo in an import
row is a row error rather than silently dropped data.

A price is integer minor units of an ISO 4217 currency (`{"amount": 3999, "currency": "EUR"}`
is 39.99 EUR); a float amount, an unknown currency or a negative amount is invalid. For
convenience (CSV files, people) a price may instead be given in major units as a decimal string,
`{"major": "39.99", "currency": "EUR"}`; more digits than the currency has (`"39.999"` for EUR)
is invalid.
"""

from __future__ import annotations

from decimal import InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kommerce.money import Money, UnknownCurrency

Status = Literal["draft", "active", "archived"]
SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/-]*$"

Name = Field(min_length=1, max_length=200)


def no_nul(value: Any) -> None:
    """PostgreSQL text and JSONB cannot hold NUL characters: refuse them up front."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text cannot contain NUL characters")
    elif isinstance(value, dict):
        for key, item in value.items():
            no_nul(key)
            no_nul(item)
    elif isinstance(value, list | tuple):
        for item in value:
            no_nul(item)


def _attributes(value: dict[str, str]) -> dict[str, str]:
    for key, item in value.items():
        if not key or len(key) > 100 or len(item) > 1000:
            raise ValueError("attribute names are 1-100 characters, values at most 1000")
    return value


def parse_price(value: Any) -> Any:
    """`{"major": "39.99", "currency": "EUR"}` to minor units; anything else is left to Money."""
    if isinstance(value, dict) and "major" in value:
        if set(value) != {"major", "currency"}:
            raise ValueError("a price is {amount, currency} or {major, currency}")
        major, currency = value["major"], value["currency"]
        if not isinstance(major, str) or not isinstance(currency, str):
            raise ValueError("major is a decimal string and currency an ISO 4217 code")
        try:
            return Money.of(major, currency)
        except UnknownCurrency:
            raise
        except InvalidOperation as exc:
            raise ValueError(f"{major!r} is not a decimal number") from exc
    return value


class VariantIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    sku: str = Field(min_length=1, max_length=64, pattern=SKU_PATTERN, examples=["ACME-OX-M-BLU"])
    name: str = Field(default="", max_length=200)
    attributes: dict[str, str] = Field(default_factory=dict, max_length=50)
    price: Money
    weight_grams: int | None = Field(default=None, ge=0, le=10_000_000)

    _attrs = field_validator("attributes")(_attributes)

    @model_validator(mode="after")
    def _text_without_nul(self) -> VariantIn:
        no_nul(self.model_dump(exclude={"price"}))
        return self

    @field_validator("price", mode="before")
    @classmethod
    def _major_units(cls, value: Any) -> Any:
        return parse_price(value)

    @field_validator("price")
    @classmethod
    def _not_negative(cls, value: Money) -> Money:
        if value.amount < 0:
            raise ValueError("a price cannot be negative")
        return value


class ProductIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    slug: str = Field(
        min_length=1, max_length=120, pattern=SLUG_PATTERN, examples=["acme-oxford-shirt"]
    )
    name: str = Name
    description: str = Field(default="", max_length=20_000)
    status: Status = "draft"
    brand: str | None = Field(default=None, min_length=1, max_length=120)
    category: list[str] = Field(default_factory=list, max_length=10)
    attributes: dict[str, str] = Field(default_factory=dict, max_length=100)
    seo: dict[str, str] = Field(
        default_factory=dict, max_length=20, description="e.g. title, description, keywords"
    )
    variants: list[VariantIn] = Field(default_factory=list, max_length=200)

    _attrs = field_validator("attributes")(_attributes)

    @model_validator(mode="after")
    def _text_without_nul(self) -> ProductIn:
        no_nul(self.model_dump(exclude={"variants"}))
        return self

    @field_validator("category")
    @classmethod
    def _category_names(cls, value: list[str]) -> list[str]:
        names = [name.strip() for name in value]
        if any(not name or len(name) > 120 for name in names):
            raise ValueError("category names are 1-120 characters")
        return names

    @field_validator("variants")
    @classmethod
    def _unique_skus(cls, value: list[VariantIn]) -> list[VariantIn]:
        skus = [v.sku for v in value]
        if len(set(skus)) != len(skus):
            raise ValueError("each variant needs its own sku")
        return value
