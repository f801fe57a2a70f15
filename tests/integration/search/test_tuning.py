"""Relevance tuning without code (ranking configs, boosts), A/B experiments with deterministic
assignment, personalization by clicked categories, and the analytics reports."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.integration.search.conftest import Catalog, Running, indexed, search

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def pair(search_service: Running) -> tuple[Catalog, dict[str, Any], dict[str, Any]]:
    """Two equally relevant lamps by different brands in different subcategories."""
    cat = Catalog(root_name="Home", leaf_name="Lamps")
    desk = cat.product("Lumen Desk Lamp", brand="Lumen")
    floor = cat.product("Glow Floor Lamp", brand="Glow", leaf=(str(uuid.uuid4()), "Floor Lamps"))
    for doc in (desk, floor):
        await search_service.publish("product.changed", doc)
    await indexed(search_service.client, cat, 2)
    return cat, desk, floor


async def _top(client: httpx.AsyncClient, cat: Catalog, **params: Any) -> str:
    body = await search(client, q="lamp", category=cat.root_id, **params)
    assert body["total"] == 2
    return str(body["hits"][0]["name"])


async def test_invalid_ranking_config_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    for bad in (
        {"field_weights": {"name": -1}},
        {"field_weights": {"colour": 1}},
        {"in_stock_boost": "lots"},
        {"unknown_knob": 1},
        {"recency_half_life_days": 0},
    ):
        r = await client.put("/v1/search/rankings/broken", json=bad, headers=admin)
        assert r.status_code == 422, (bad, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    r = await client.get("/v1/search/rankings", headers=admin)
    assert "broken" not in {x["name"] for x in r.json()["rankings"]}


async def test_brand_boost_changes_the_order_without_code(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pair: tuple[Catalog, dict[str, Any], dict[str, Any]],
) -> None:
    cat, _desk, floor = pair
    for brand, expected in (("Glow", "Glow Floor Lamp"), ("Lumen", "Lumen Desk Lamp")):
        r = await client.put(
            "/v1/search/rankings/default",
            json={"brand_boosts": {brand: 5.0}},
            headers=admin,
        )
        assert r.status_code == 200, r.text
        assert await _top(client, cat) == expected
    r = await client.put(
        "/v1/search/rankings/default",
        json={"category_boosts": {floor["category_id"]: 9.0}},
        headers=admin,
    )
    assert await _top(client, cat) == "Glow Floor Lamp"
    await client.put("/v1/search/rankings/default", json={}, headers=admin)


async def test_ab_assignment_is_deterministic_and_recorded(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pair: tuple[Catalog, dict[str, Any], dict[str, Any]],
) -> None:
    cat, _, _ = pair
    for name, brand in (("favour-glow", "Glow"), ("favour-lumen", "Lumen")):
        r = await client.put(
            f"/v1/search/rankings/{name}", json={"brand_boosts": {brand: 5.0}}, headers=admin
        )
        assert r.status_code == 200
    r = await client.put(
        "/v1/search/experiments/aa-lamps",
        json={
            "variants": [
                {"name": "glow", "ranking": "favour-glow", "weight": 50},
                {"name": "lumen", "ranking": "favour-lumen", "weight": 50},
            ]
        },
        headers=admin,
    )
    assert r.status_code == 200, r.text
    try:
        seen: dict[str, set[str]] = {}
        for i in range(20):
            anon = f"anon-{i}"
            for _ in range(2):  # the same id always gets the same arm
                body = await search(client, q="lamp", category=cat.root_id, anonymous_id=anon)
                assert body["experiment"] == "aa-lamps"
                seen.setdefault(anon, set()).add(body["variant"])
                top = body["hits"][0]["name"]
                assert top == (
                    "Glow Floor Lamp" if body["variant"] == "glow" else "Lumen Desk Lamp"
                )
        assert all(len(v) == 1 for v in seen.values())
        assert {v for vs in seen.values() for v in vs} == {"glow", "lumen"}  # both arms used
        plain = await search(client, q="lamp", category=cat.root_id)  # no id: no experiment
        assert plain["experiment"] is None
        assert plain["ranking"] == "default"

        r = await client.get(
            "/v1/search/analytics/click-through", params={"by": "variant"}, headers=admin
        )
        rows = {x["key"]: x for x in r.json()["rows"]}
        glow = sum(1 for v in seen.values() if v == {"glow"}) * 2
        assert rows["aa-lamps:glow"]["searches"] == glow
        assert rows["aa-lamps:lumen"]["searches"] == 40 - glow
        r = await client.put(
            "/v1/search/experiments/aa-lamps",
            json={"variants": [{"name": "a", "ranking": "missing", "weight": 1}] * 2},
            headers=admin,
        )
        assert r.status_code == 422  # variant names must be distinct
        r = await client.put(
            "/v1/search/experiments/bb",
            json={
                "variants": [
                    {"name": "a", "ranking": "missing", "weight": 1},
                    {"name": "b", "ranking": "default", "weight": 1},
                ]
            },
            headers=admin,
        )
        assert r.status_code == 404
        assert r.json()["missing"] == ["missing"]
        r = await client.delete("/v1/search/rankings/favour-glow", headers=admin)
        assert r.status_code == 409
    finally:
        assert (
            await client.delete("/v1/search/experiments/aa-lamps", headers=admin)
        ).status_code == 204


async def test_personalization_boosts_the_users_clicked_categories(
    client: httpx.AsyncClient,
    minter: Any,
    pair: tuple[Catalog, dict[str, Any], dict[str, Any]],
) -> None:
    cat, desk, floor = pair
    user = str(uuid.uuid4())
    token = minter.bearer(roles=["customer"], user_id=user)
    body = (
        await client.get("/v1/search", params={"q": "lamp", "category": cat.root_id}, headers=token)
    ).json()
    first = body["hits"][0]["product_id"]
    other = floor if first == desk["product_id"] else desk
    for _ in range(3):
        r = await client.post(
            "/v1/search/clicks",
            json={"query_id": body["query_id"], "product_id": other["product_id"], "position": 2},
        )
        assert r.status_code == 204, r.text
    again = (
        await client.get("/v1/search", params={"q": "lamp", "category": cat.root_id}, headers=token)
    ).json()
    assert again["hits"][0]["product_id"] == other["product_id"]
    # the explicit user id works too; strangers are unaffected
    explicit = await search(client, q="lamp", category=cat.root_id, user_id=user)
    assert explicit["hits"][0]["product_id"] == other["product_id"]
    stranger = await search(client, q="lamp", category=cat.root_id, user_id="someone-else")
    assert stranger["hits"][0]["product_id"] == first


async def test_analytics_counts(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    word = f"zq{uuid.uuid4().hex[:6]}"  # unique to this run: counts start at zero
    for _ in range(3):
        body = await search(client, q=f"{word} lamp")
    for _ in range(2):
        await search(client, q=word)  # matches nothing
    r = await client.post(
        "/v1/search/clicks",
        json={"query_id": body["query_id"], "product_id": "p-1", "position": 1},
    )
    assert r.status_code == 204
    r = await client.post(
        "/v1/search/clicks",
        json={"query_id": str(uuid.uuid4()), "product_id": "p-1", "position": 1},
    )
    assert r.status_code == 404

    top = (
        await client.get("/v1/search/analytics/top-queries", params={"limit": 500}, headers=admin)
    ).json()
    counts = {q["query"]: q["searches"] for q in top["queries"]}
    assert counts[f"{word} lamp"] == 3
    assert counts[word] == 2
    zero = (await client.get("/v1/search/analytics/zero-results", headers=admin)).json()
    zeros = {q["query"]: q["searches"] for q in zero["queries"]}
    assert zeros[word] == 2
    assert f"{word} lamp" not in zeros
    ctr = (
        await client.get("/v1/search/analytics/click-through", params={"limit": 500}, headers=admin)
    ).json()
    row = next(x for x in ctr["rows"] if x["key"] == f"{word} lamp")
    assert (row["searches"], row["clicked"], row["clicks"]) == (3, 1, 1)
    assert row["ctr"] == pytest.approx(1 / 3)
    r = await client.get("/v1/search/analytics/top-queries")
    assert r.status_code == 401

    popular = (await client.get("/v1/search/suggest", params={"q": word})).json()
    assert popular["suggestions"][0] == {
        "text": f"{word} lamp",
        "kind": "query",
        "product_id": None,
        "score": 1.0,
    }
