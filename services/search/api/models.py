"""Bodies of the search service's HTTP API (the backend's models are in services.search.models)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.search.models import FacetValue, RankingConfig, SearchHit, Suggestion

Id = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00]*$")]


class SearchResponse(BaseModel):
    query_id: str = Field(description="send it back with clicks (POST /v1/search/clicks)")
    total: int
    page: int
    page_size: int
    hits: list[SearchHit]
    facets: dict[str, list[FacetValue]]
    matched_by: str
    corrected_query: str | None
    ranking: str = Field(description="the ranking config that ordered the hits")
    experiment: str | None
    variant: str | None


class Suggestions(BaseModel):
    suggestions: list[Suggestion]


class ClickIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query_id: uuid.UUID
    product_id: Id
    position: int = Field(ge=1, le=10_000)


class SynonymGroupOut(BaseModel):
    id: str
    terms: list[str]


class SynonymList(BaseModel):
    groups: list[SynonymGroupOut]


class RankingOut(BaseModel):
    name: str
    config: RankingConfig


class RankingList(BaseModel):
    rankings: list[RankingOut]


class QueryCount(BaseModel):
    query: str
    searches: int
    avg_results: float | None = None
    last_seen: datetime | None = None


class QueryReport(BaseModel):
    days: int
    queries: list[QueryCount]


class ClickThrough(BaseModel):
    key: str = Field(description="the query, or `experiment:variant` (`:ranking` outside one)")
    searches: int
    clicked: int = Field(description="searches with at least one click")
    clicks: int
    ctr: float = Field(description="clicked / searches")


class ClickThroughReport(BaseModel):
    by: str
    days: int
    rows: list[ClickThrough]
