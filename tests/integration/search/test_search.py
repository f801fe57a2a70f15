"""Full-text search: field weights, typo tolerance, synonyms, filters, facets, sorting, paging,
suggestions, and the 422 for unknown facets and filters."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.integration.search.conftest import Catalog, Running, indexed, search, variant

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def shop(search_service: Running) -> Catalog:
    """A small catalogue: shirts, a tee, shoes; two brands; sizes; prices; a subcategory."""
    cat = Catalog()
    shoes = (str(uuid.uuid4()), "Shoes")

    def p(name: str, price: int, **kw: Any) -> dict[str, Any]:
        pid = str(uuid.uuid4())
        size = kw.pop("size", "M")
        return cat.product(
            name,
            product_id=pid,
            variants=[variant(pid, price=price, attributes={"size": size})],
            **kw,
        )

    docs = [
        p("Acme Oxford Shirt", 3999, description="crisp cotton", attributes={"material": "cotton"}),
        p("Acme Flannel Shirt", 4999, size="L", attributes={"material": "wool"}),
        p("Zephyr Graphic T-Shirt", 1999, brand="Zephyr"),
        p("Zephyr Running Shoe", 8999, brand="Zephyr", leaf=shoes, size="42"),
        p("Plain Canvas Tote", 1500, brand="Zephyr", description="fits a shirt or two"),
    ]
    for i, doc in enumerate(docs):  # created one second apart, in this order
        doc["changed_at"] = doc["changed_at"] + timedelta(seconds=i)
        await search_service.publish("product.changed", doc)
    await indexed(search_service.client, cat, len(docs))
    cat.shoes_id = shoes[0]  # type: ignore[attr-defined]
    return cat


async def test_field_weights_rank_name_above_description(
    client: httpx.AsyncClient, shop: Catalog
) -> None:
    body = await search(client, q="shirt", category=shop.root_id)
    names = [h["name"] for h in body["hits"]]
    assert body["matched_by"] == "fulltext"
    assert "Plain Canvas Tote" in names  # matched by its description only...
    assert names[-1] == "Plain Canvas Tote"  # ...so ranked last


async def test_typo_tolerance(client: httpx.AsyncClient, shop: Catalog) -> None:
    body = await search(client, q="shrit", category=shop.root_id)
    assert body["matched_by"] == "fuzzy"
    assert body["corrected_query"] == "shirt"
    assert {"Acme Oxford Shirt", "Acme Flannel Shirt"} <= {h["name"] for h in body["hits"]}
    body = await search(client, q="flanel", category=shop.root_id)
    assert body["hits"][0]["name"] == "Acme Flannel Shirt"


async def test_synonyms_expand_queries_without_reindex(
    client: httpx.AsyncClient, shop: Catalog, admin: dict[str, str]
) -> None:
    word = f"tee{uuid.uuid4().hex[:4]}"  # a synonym of this session's own
    assert (await search(client, q=word, category=shop.root_id))["total"] == 0
    r = await client.post("/v1/search/synonyms", json={"terms": [word, "T-Shirt"]}, headers=admin)
    assert r.status_code == 201, r.text
    group = r.json()
    assert group["terms"] == [word, "t-shirt"]
    body = await search(client, q=word, category=shop.root_id)
    assert [h["name"] for h in body["hits"]] == ["Zephyr Graphic T-Shirt"]
    listed = (await client.get("/v1/search/synonyms", headers=admin)).json()["groups"]
    assert group in listed
    r = await client.delete(f"/v1/search/synonyms/{group['id']}", headers=admin)
    assert r.status_code == 204
    assert (await search(client, q=word, category=shop.root_id))["total"] == 0
    r = await client.delete(f"/v1/search/synonyms/{group['id']}", headers=admin)
    assert r.status_code == 404


async def test_synonym_management_needs_search_admin(
    client: httpx.AsyncClient, minter: Any
) -> None:
    r = await client.post("/v1/search/synonyms", json={"terms": ["a", "b"]})
    assert r.status_code == 401
    r = await client.post(
        "/v1/search/synonyms",
        json={"terms": ["a", "b"]},
        headers=minter.bearer(roles=["support"]),
    )
    assert r.status_code == 403
    assert r.json()["required"] == ["search:admin"]


async def test_filters_and_facets(client: httpx.AsyncClient, shop: Catalog) -> None:
    body = await search(
        client,
        category=shop.root_id,
        facets="brand,category,price,attr.size",
        sort="price_asc",
    )
    assert body["total"] == 5
    assert [h["price"]["min"] for h in body["hits"]] == [1500, 1999, 3999, 4999, 8999]
    brands = {f["value"]: f["count"] for f in body["facets"]["brand"]}
    assert brands == {"Acme": 2, "Zephyr": 3}
    categories = {f["value"]: f["count"] for f in body["facets"]["category"]}
    assert categories[shop.root_id] == 5
    assert categories[shop.shoes_id] == 1
    assert categories[shop.leaf_id] == 4
    sizes = {f["value"]: f["count"] for f in body["facets"]["attr.size"]}
    assert sizes == {"M": 3, "L": 1, "42": 1}
    prices = {f["value"]: f["count"] for f in body["facets"]["price"]}
    assert prices == {"1000-2500": 2, "2500-5000": 2, "5000-10000": 1}

    sub = await search(client, category=shop.shoes_id)  # type: ignore[attr-defined]
    assert [h["name"] for h in sub["hits"]] == ["Zephyr Running Shoe"]
    both = await client.get(
        "/v1/search",
        params=[("category", shop.root_id), ("brand", "Acme"), ("attr", "size:L")],
    )
    assert [h["name"] for h in both.json()["hits"]] == ["Acme Flannel Shirt"]
    cheap = await search(client, category=shop.root_id, min_price=1000, max_price=2500)
    assert cheap["total"] == 2


async def test_sort_and_pagination(client: httpx.AsyncClient, shop: Catalog) -> None:
    first = await search(client, category=shop.root_id, sort="price_desc", page_size=2)
    second = await search(client, category=shop.root_id, sort="price_desc", page_size=2, page=2)
    assert first["total"] == second["total"] == 5
    assert [h["price"]["max"] for h in first["hits"] + second["hits"]] == [
        8999,
        4999,
        3999,
        1999,
    ]
    newest = await search(client, category=shop.root_id, sort="newest", page_size=1)
    assert newest["hits"][0]["name"] == "Plain Canvas Tote"


async def test_unknown_facet_or_filter_is_a_422_naming_the_valid_ones(
    client: httpx.AsyncClient, shop: Catalog
) -> None:
    r = await client.get("/v1/search", params={"q": "shirt", "facets": "colour"})
    assert r.status_code == 422
    body = r.json()
    assert r.headers["content-type"] == "application/problem+json"
    assert body["unknown"] == ["colour"]
    assert {"category", "brand", "price", "in_stock", "attr.size"} <= set(body["valid"])
    r = await client.get("/v1/search", params={"attr": "flavour:sweet"})
    assert r.status_code == 422
    assert r.json()["unknown"] == ["flavour"]
    r = await client.get("/v1/search", params={"colour": "red"})
    assert r.status_code == 422
    assert "brand" in r.json()["valid"]


async def test_suggestions(client: httpx.AsyncClient, shop: Catalog) -> None:
    r = await client.get("/v1/search/suggest", params={"q": "flan"})
    assert r.status_code == 200
    texts = [s["text"] for s in r.json()["suggestions"]]
    assert "Acme Flannel Shirt" in texts
    r = await client.get("/v1/search/suggest", params={"q": "flannle"})  # typo
    assert "Acme Flannel Shirt" in [s["text"] for s in r.json()["suggestions"]]
