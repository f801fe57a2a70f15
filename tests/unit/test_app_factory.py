from __future__ import annotations

from typing import ClassVar

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel

from kommerce.http.app import ServiceParts, create_service_app
from kommerce.http.errors import PROBLEM_JSON, Conflict, NotFound
from kommerce.settings import ServiceSettings

pytestmark = pytest.mark.unit


class DemoSettings(ServiceSettings):
    service_name: ClassVar[str] = "demo"


class Item(BaseModel):
    name: str
    quantity: int


router = APIRouter()


@router.get("/items/{item_id}")
async def get_item(item_id: int) -> dict[str, int]:
    if item_id == 404:
        raise NotFound(f"item {item_id} does not exist", itemId=item_id)
    if item_id == 409:
        raise Conflict("item is locked")
    if item_id == 500:
        raise RuntimeError("secret internals")
    return {"id": item_id}


@router.post("/items")
async def create_item(item: Item) -> Item:
    return item


def _client(readiness: dict | None = None) -> httpx.AsyncClient:  # type: ignore[type-arg]
    app = create_service_app(
        settings=DemoSettings(log_format="text"),
        parts=ServiceParts(routers=[router], readiness=readiness or {}),
    )
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://test"
    )


async def test_healthz() -> None:
    async with _client() as c:
        r = await c.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "service": "demo"}


async def test_readyz_reports_each_dependency() -> None:
    async def ok() -> None:
        return None

    async def broken() -> None:
        raise ConnectionRefusedError("db down")

    async with _client({"cache": ok}) as c:
        assert (await c.get("/readyz")).status_code == 200
    async with _client({"cache": ok, "db": broken}) as c:
        r = await c.get("/readyz")
    assert r.status_code == 503
    body = r.json()
    assert body["checks"]["cache"]["ok"] is True
    assert body["checks"]["db"]["ok"] is False
    assert "db down" in body["checks"]["db"]["detail"]


async def test_readyz_times_out_slow_dependency() -> None:
    import asyncio

    async def slow() -> None:
        await asyncio.sleep(10)

    app = create_service_app(
        settings=DemoSettings(readiness_timeout_seconds=0.1),
        parts=ServiceParts(readiness={"slow": slow}),
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.get("/readyz")
    assert r.status_code == 503
    assert "timed out" in r.json()["checks"]["slow"]["detail"]


async def test_domain_errors_are_problem_json() -> None:
    async with _client() as c:
        r = await c.get("/items/404", headers={"x-request-id": "abc-123"})
        conflict = await c.get("/items/409")
    assert r.status_code == 404
    assert r.headers["content-type"] == PROBLEM_JSON
    body = r.json()
    assert body["type"].endswith("/not-found")
    assert body["detail"] == "item 404 does not exist"
    assert body["itemId"] == 404
    assert body["requestId"] == "abc-123"
    assert body["instance"] == "/items/404"
    assert conflict.status_code == 409


async def test_validation_errors_name_the_field() -> None:
    async with _client() as c:
        r = await c.post("/items", json={"name": "x", "quantity": "many"})
    assert r.status_code == 422
    assert r.headers["content-type"] == PROBLEM_JSON
    assert r.json()["errors"][0]["location"] == ["body", "quantity"]


async def test_unknown_route_is_problem_json() -> None:
    async with _client() as c:
        r = await c.get("/nowhere")
    assert r.status_code == 404
    assert r.headers["content-type"] == PROBLEM_JSON


async def test_unexpected_errors_hide_internals() -> None:
    async with _client() as c:
        r = await c.get("/items/500")
    assert r.status_code == 500
    assert r.headers["content-type"] == PROBLEM_JSON
    assert "secret internals" not in r.text
    assert r.json()["requestId"]


async def test_request_id_and_traceparent_returned() -> None:
    async with _client() as c:
        r = await c.get("/items/1", headers={"x-request-id": "given-id"})
        generated = await c.get("/items/1", headers={"x-request-id": "bad id with spaces"})
    assert r.headers["x-request-id"] == "given-id"
    assert r.headers["traceparent"].startswith("00-")
    assert generated.headers["x-request-id"] != "bad id with spaces"


async def test_metrics_count_by_route_template() -> None:
    async with _client() as c:
        await c.get("/items/1")
        await c.get("/items/2")
        await c.get("/items/404")
        text = (await c.get("/metrics")).text
    assert (
        'http_requests_total{method="GET",route="/items/{item_id}",service="demo",status="200"} 2.0'
        in text
    )
    assert 'route="/items/{item_id}",service="demo",status="404"} 1.0' in text
    assert "http_request_duration_seconds_bucket" in text


async def test_openapi_lists_routes() -> None:
    async with _client() as c:
        spec = (await c.get("/openapi.json")).json()
    assert "/items/{item_id}" in spec["paths"]
    assert "/healthz" in spec["paths"]
