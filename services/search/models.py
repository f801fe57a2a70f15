"""The search backend interface's data: documents, requests, results, ranking configuration.

These models are the contract between the service and a `SearchBackend` (PostgreSQL now,
OpenSearch later); they are also the HTTP API's bodies. Money is integer minor units.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

NoNul = Annotated[str, StringConstraints(pattern=r"^[^\x00]*$")]
Short = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00]*$")]
FieldName = Literal["name", "brand", "category", "attributes", "description"]
SortOrder = Literal["relevance", "price_asc", "price_desc", "newest"]
# facet names: these, plus `attr.<attribute name>` for any attribute the index holds
FIXED_FACETS = ("category", "brand", "price", "in_stock")
ATTRIBUTE_PREFIX = "attr."
_CURRENCY = re.compile(r"^[A-Z]{3}$")


class PriceRange(BaseModel):
    min: int = Field(ge=0)
    max: int = Field(ge=0)


class SearchDocument(BaseModel):
    """One product as the index holds it (built from `product.changed` + stock events)."""

    product_id: str
    version: int
    slug: str
    name: str
    description: str = ""
    status: Literal["draft", "active", "archived"] = "active"
    brand: str | None = None
    category_id: str | None = None
    category_ids: list[str] = Field(default_factory=list)  # root .. leaf
    category_path: list[str] = Field(default_factory=list)  # names, root .. leaf
    # product attributes plus every variant's attributes: name -> distinct values
    attributes: dict[str, list[str]] = Field(default_factory=dict)
    variant_ids: list[str] = Field(default_factory=list)
    skus: list[str] = Field(default_factory=list)
    prices: dict[str, PriceRange] = Field(default_factory=dict)  # currency -> range
    image_url: str | None = None
    changed_at: datetime


class StockLevel(BaseModel):
    """Available-to-sell of one variant (from `inventory.stock_changed`)."""

    variant_id: str
    product_id: str | None = None
    available: int
    changed_at: datetime


class SynonymGroup(BaseModel):
    """Terms that mean the same: a query containing any one also matches the others."""

    model_config = ConfigDict(extra="forbid")

    terms: list[Short] = Field(min_length=2, max_length=20)

    @field_validator("terms")
    @classmethod
    def _normalise(cls, terms: list[str]) -> list[str]:
        out = list(dict.fromkeys(" ".join(t.lower().split()) for t in terms))
        if len(out) < 2 or any(not t for t in out):
            raise ValueError("a synonym group needs at least two different non-blank terms")
        return out


class RankingConfig(BaseModel):
    """How relevance is computed; stored as documents in PostgreSQL, changed without code."""

    model_config = ConfigDict(extra="forbid")

    field_weights: dict[FieldName, Annotated[float, Field(ge=0.0, le=10.0)]] = Field(
        default_factory=lambda: {  # type: ignore[arg-type]
            "name": 1.0,
            "brand": 0.5,
            "category": 0.5,
            "attributes": 0.3,
            "description": 0.1,
        }
    )
    brand_boosts: dict[Short, Annotated[float, Field(ge=0.0, le=10.0)]] = Field(
        default_factory=dict
    )  # brand name -> multiplier
    category_boosts: dict[Short, Annotated[float, Field(ge=0.0, le=10.0)]] = Field(
        default_factory=dict
    )  # category id (applies to its subtree) -> multiplier
    in_stock_boost: float = Field(default=1.2, ge=0.0, le=10.0)  # multiplier when in stock
    recency_boost: float = Field(default=0.0, ge=0.0, le=10.0)  # extra weight of new products
    recency_half_life_days: float = Field(default=30.0, gt=0.0, le=3650.0)
    trigram_threshold: float = Field(default=0.3, ge=0.05, le=1.0)  # typo fallback cut-off
    personal_weight: float = Field(default=0.5, ge=0.0, le=10.0)  # user's categories


class Filters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: str | None = None  # category id: matches its whole subtree
    brand: list[Short] = Field(default_factory=list, max_length=50)
    min_price: int | None = Field(default=None, ge=0, le=10**15)  # minor units of `currency`
    max_price: int | None = Field(default=None, ge=0, le=10**15)
    in_stock: bool | None = None
    attributes: dict[Short, list[Short]] = Field(default_factory=dict)  # name -> any of values


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\x00]*$")] = ""
    filters: Filters = Field(default_factory=Filters)
    facets: list[Short] = Field(default_factory=list, max_length=20)
    sort: SortOrder = "relevance"
    currency: str = "EUR"
    page: int = Field(default=1, ge=1, le=1000)
    page_size: int = Field(default=20, ge=1, le=100)
    # filled by the service, not by callers of the HTTP API
    ranking: RankingConfig = Field(default_factory=RankingConfig)
    personal_categories: dict[str, float] = Field(default_factory=dict)  # category id -> weight

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if not _CURRENCY.match(value):
            raise ValueError("currency must be an ISO 4217 code such as EUR")
        return value


class SearchHit(BaseModel):
    product_id: str
    slug: str
    name: str
    brand: str | None
    category_path: list[str]
    price: PriceRange | None  # in the request's currency
    in_stock: bool
    image_url: str | None
    score: float


class FacetValue(BaseModel):
    value: str
    label: str
    count: int


class SearchResult(BaseModel):
    total: int
    hits: list[SearchHit]
    facets: dict[str, list[FacetValue]] = Field(default_factory=dict)
    # "fulltext": the words matched; "fuzzy": typo tolerance (corrected words / trigram
    # similarity) found what full text did not; "all": no query text, filters only
    matched_by: Literal["fulltext", "fuzzy", "all"] = "fulltext"
    corrected_query: str | None = None


class Suggestion(BaseModel):
    text: str
    kind: Literal["product", "query"]
    product_id: str | None = None
    score: float


Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$")]


class Variant(BaseModel):
    """One arm of an experiment: a ranking config and its share of the traffic."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    ranking: Name
    weight: int = Field(ge=1, le=10_000)


class ExperimentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    active: bool = True
    variants: list[Variant] = Field(min_length=2, max_length=10)

    @field_validator("variants")
    @classmethod
    def _distinct(cls, variants: list[Variant]) -> list[Variant]:
        if len({v.name for v in variants}) != len(variants):
            raise ValueError("variant names must be distinct")
        return variants


class Experiment(ExperimentIn):
    name: Name
