"""Admin routes (search:admin): synonyms, ranking configs, experiments, analytics reports."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request

from kommerce.auth.claims import Principal
from kommerce.http.responses import problems
from services.search.api.models import (
    ClickThrough,
    ClickThroughReport,
    QueryCount,
    QueryReport,
    RankingList,
    RankingOut,
    SynonymGroupOut,
    SynonymList,
)
from services.search.context import SearchContext, ctx
from services.search.models import Experiment, ExperimentIn, RankingConfig, SynonymGroup

router = APIRouter(
    prefix="/v1/search", tags=["admin"], responses=problems(400, 401, 403, 404, 409, 422)
)
Ctx = Annotated[SearchContext, Depends(ctx)]
NAME = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
Name = Annotated[str, Path(pattern=NAME)]
GroupId = Annotated[uuid.UUID, Path()]
Days = Annotated[int, Query(ge=1, le=366)]
Limit = Annotated[int, Query(ge=1, le=500)]


async def _admin(request: Request, c: Ctx) -> Principal:
    return await c.auth.require("search:admin")(request)


Admin = Annotated[Principal, Depends(_admin)]


# -- synonyms ---------------------------------------------------------------------------------


@router.get("/synonyms", response_model=SynonymList)
async def list_synonyms(c: Ctx, _: Admin) -> SynonymList:
    return SynonymList(
        groups=[SynonymGroupOut(id=k, terms=g.terms) for k, g in c.tuning.synonyms.items()]
    )


@router.post("/synonyms", response_model=SynonymGroupOut, status_code=201)
async def add_synonyms(c: Ctx, _: Admin, body: SynonymGroup) -> SynonymGroupOut:
    """Terms that mean the same ("tee", "t-shirt"): queries are expanded, no reindex."""
    group_id = await c.tuning.add_synonyms(body)
    return SynonymGroupOut(id=group_id, terms=body.terms)


@router.put("/synonyms/{group_id}", response_model=SynonymGroupOut)
async def put_synonyms(c: Ctx, _: Admin, group_id: GroupId, body: SynonymGroup) -> SynonymGroupOut:
    await c.tuning.put_synonyms(str(group_id), body)
    return SynonymGroupOut(id=str(group_id), terms=body.terms)


@router.delete("/synonyms/{group_id}", status_code=204)
async def delete_synonyms(c: Ctx, _: Admin, group_id: GroupId) -> None:
    await c.tuning.delete_synonyms(str(group_id))


# -- ranking configs --------------------------------------------------------------------------


@router.get("/rankings", response_model=RankingList)
async def list_rankings(c: Ctx, _: Admin) -> RankingList:
    rankings = dict(c.tuning.rankings)
    rankings.setdefault("default", RankingConfig())
    return RankingList(rankings=[RankingOut(name=n, config=r) for n, r in sorted(rankings.items())])


@router.put("/rankings/{name}", response_model=RankingOut)
async def put_ranking(c: Ctx, _: Admin, name: Name, body: RankingConfig) -> RankingOut:
    """Create or replace a ranking config; `default` ranks searches outside experiments."""
    await c.tuning.put_ranking(name, body)
    return RankingOut(name=name, config=body)


@router.delete("/rankings/{name}", status_code=204)
async def delete_ranking(c: Ctx, _: Admin, name: Name) -> None:
    await c.tuning.delete_ranking(name)


# -- experiments ------------------------------------------------------------------------------


@router.get("/experiments", response_model=list[Experiment])
async def list_experiments(c: Ctx, _: Admin) -> list[Experiment]:
    return sorted(c.tuning.experiments.values(), key=lambda e: e.name)


@router.put("/experiments/{name}", response_model=Experiment)
async def put_experiment(c: Ctx, _: Admin, name: Name, body: ExperimentIn) -> Experiment:
    """Variants are ranking configs with traffic weights; a user (or anonymous id) is assigned
    by hashing (experiment, id), so the same one always sees the same variant."""
    return await c.tuning.put_experiment(name, body)


@router.delete("/experiments/{name}", status_code=204)
async def delete_experiment(c: Ctx, _: Admin, name: Name) -> None:
    await c.tuning.delete_experiment(name)


# -- analytics --------------------------------------------------------------------------------


@router.get("/analytics/top-queries", response_model=QueryReport)
async def top_queries(c: Ctx, _: Admin, days: Days = 7, limit: Limit = 50) -> QueryReport:
    rows = await c.analytics.top_queries(days, limit)
    return QueryReport(days=days, queries=[QueryCount(**r) for r in rows])


@router.get("/analytics/zero-results", response_model=QueryReport)
async def zero_results(c: Ctx, _: Admin, days: Days = 7, limit: Limit = 50) -> QueryReport:
    rows = await c.analytics.zero_result_queries(days, limit)
    return QueryReport(days=days, queries=[QueryCount(**r) for r in rows])


@router.get("/analytics/click-through", response_model=ClickThroughReport)
async def click_through(
    c: Ctx,
    _: Admin,
    by: Literal["query", "variant"] = "query",
    days: Days = 7,
    limit: Limit = 50,
) -> ClickThroughReport:
    rows = await c.analytics.click_through(by, days, limit)
    return ClickThroughReport(by=by, days=days, rows=[ClickThrough(**r) for r in rows])
