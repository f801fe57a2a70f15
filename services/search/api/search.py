"""Public routes: search, suggestions, clicks (/v1/search...). No token needed; a token (or an
explicit `user_id`) personalises the ranking and picks the experiment arm."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import ValidationError

from kommerce.http.errors import NotFound, Problem
from kommerce.http.responses import problems
from services.search.analytics import QueryRecord
from services.search.api.models import ClickIn, SearchResponse, Suggestions
from services.search.backend import UnknownName
from services.search.context import SearchContext, ctx
from services.search.models import Filters, SearchRequest, SortOrder, Suggestion
from services.search.querytext import normalise

router = APIRouter(prefix="/v1/search", tags=["search"], responses=problems(400, 401, 422))
Ctx = Annotated[SearchContext, Depends(ctx)]
NO_NUL = r"^[^\x00]*$"
Text = Annotated[str, Query(max_length=200, pattern=NO_NUL)]
PARAMETERS = (
    "q",
    "category",
    "brand",
    "min_price",
    "max_price",
    "currency",
    "in_stock",
    "attr",
    "facets",
    "sort",
    "page",
    "page_size",
    "user_id",
    "anonymous_id",
)


class UnknownFacetOrFilter(Problem):
    status, slug, title = 422, "unknown-facet-or-filter", "Unknown facet or filter"


def _attr_filters(values: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in values:
        name, sep, value = item.partition(":")
        if not sep or not name or not value:
            raise UnknownFacetOrFilter(
                f"attribute filters are attr=<name>:<value>, not {item!r}", valid=["attr"]
            )
        out.setdefault(name, []).append(value)
    return out


async def _user(request: Request, c: SearchContext, user_id: str | None) -> str | None:
    if request.headers.get("authorization"):
        return (await c.auth.principal(request)).user_id
    return user_id


@router.get("", response_model=SearchResponse, summary="Search products")
async def search(
    request: Request,
    c: Ctx,
    q: Text = "",
    category: Annotated[str | None, Query(max_length=100, pattern=NO_NUL)] = None,
    brand: Annotated[list[str] | None, Query(max_length=50)] = None,
    min_price: Annotated[int | None, Query(ge=0, le=10**15)] = None,
    max_price: Annotated[int | None, Query(ge=0, le=10**15)] = None,
    currency: Annotated[str | None, Query(pattern=r"^[A-Z]{3}$")] = None,
    in_stock: bool | None = None,
    attr: Annotated[
        list[str] | None, Query(max_length=50, description="`<attribute>:<value>`, repeatable")
    ] = None,
    facets: Annotated[
        list[str] | None,
        Query(
            max_length=20,
            description="category, brand, price, in_stock, attr.<attribute>; repeat or "
            "separate with commas",
        ),
    ] = None,
    sort: SortOrder = "relevance",
    page: Annotated[int, Query(ge=1, le=1000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
    user_id: Annotated[str | None, Query(max_length=100, pattern=NO_NUL)] = None,
    anonymous_id: Annotated[str | None, Query(max_length=100, pattern=NO_NUL)] = None,
) -> SearchResponse:
    unknown = sorted(set(request.query_params) - set(PARAMETERS))
    if unknown:
        raise UnknownFacetOrFilter(
            f"unknown parameter(s) {', '.join(unknown)}; valid: {', '.join(PARAMETERS)}",
            unknown=unknown,
            valid=list(PARAMETERS),
        )
    user = await _user(request, c, user_id)
    choice = c.tuning.choose(user or anonymous_id)
    personal = await c.personalizer.category_weights(user) if user else {}
    try:
        req = SearchRequest(
            q=q,
            filters=Filters(
                category=category,
                brand=brand or [],
                min_price=min_price,
                max_price=max_price,
                in_stock=in_stock,
                attributes=_attr_filters(attr or []),
            ),
            facets=list(
                dict.fromkeys(f.strip() for v in facets or [] for f in v.split(",") if f.strip())
            ),
            sort=sort,
            currency=currency or c.settings.default_currency,
            page=page,
            page_size=page_size,
            ranking=choice.ranking,
            personal_categories=personal,
        )
    except ValidationError as exc:
        raise UnknownFacetOrFilter(str(exc.errors()[0]["msg"]), valid=list(PARAMETERS)) from exc
    try:
        result = await c.backend.search(req)
    except UnknownName as exc:
        raise UnknownFacetOrFilter(str(exc), unknown=exc.names, valid=exc.valid) from exc
    query_id = str(uuid.uuid4())
    c.analytics.record(
        QueryRecord(
            query_id=query_id,
            at=datetime.now(UTC),
            q=q,
            normalized=normalise(q),
            total=result.total,
            matched_by=result.matched_by,
            user_key=user or anonymous_id,
            experiment=choice.experiment,
            variant=choice.variant,
            ranking=choice.ranking_name,
        )
    )
    return SearchResponse(
        query_id=query_id,
        total=result.total,
        page=page,
        page_size=page_size,
        hits=result.hits,
        facets=result.facets,
        matched_by=result.matched_by,
        corrected_query=result.corrected_query,
        ranking=choice.ranking_name,
        experiment=choice.experiment,
        variant=choice.variant,
    )


@router.get("/suggest", response_model=Suggestions, summary="Autocomplete")
async def suggest(
    c: Ctx,
    q: Annotated[str, Query(min_length=1, max_length=100, pattern=NO_NUL)],
    limit: Annotated[int, Query(ge=1, le=20)] = 8,
) -> Suggestions:
    """Popular past queries starting with `q` first, then product names that start with it or
    are close to it (trigram word similarity: typos too)."""
    prefix = normalise(q)
    found: list[Suggestion] = []
    if prefix:
        popular = await c.analytics.popular(prefix, limit=max(1, limit // 2))
        top = max((n for _, n in popular), default=1)
        found = [Suggestion(text=t, kind="query", score=n / top) for t, n in popular]
    seen = {s.text.lower() for s in found}
    for s in await c.backend.suggest(q, limit=limit):
        if s.text.lower() not in seen and len(found) < limit:
            found.append(s)
            seen.add(s.text.lower())
    return Suggestions(suggestions=found)


@router.post(
    "/clicks", status_code=204, summary="Record a click on a result", responses=problems(404)
)
async def click(c: Ctx, body: ClickIn) -> None:
    known, user = await c.analytics.query_owner(str(body.query_id))
    if not known:
        raise NotFound(f"no search {body.query_id}")
    await c.analytics.click(str(body.query_id), body.product_id, body.position, user)
    if user:
        await c.personalizer.record_click(user, body.product_id)
