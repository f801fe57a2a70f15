"""HTTP routes of platform-api: thin, one domain call each."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from kommerce.http.errors import PROBLEM_JSON
from services.platform_api.cluster import ClusterReader
from services.platform_api.models import ClusterInfo

router = APIRouter(prefix="/v1", tags=["cluster"])

_UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"description": "Kubernetes API unavailable", "content": {PROBLEM_JSON: {}}}
}


def _reader(request: Request) -> ClusterReader:
    reader: ClusterReader = request.app.state.cluster
    return reader


@router.get(
    "/cluster",
    response_model=ClusterInfo,
    response_model_by_alias=True,
    responses=_UNAVAILABLE,
    summary="Control plane version and node count",
)
async def get_cluster(request: Request) -> ClusterInfo:
    return await _reader(request).info()
