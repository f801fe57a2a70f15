"""Products and variants over HTTP: CRUD, money validation, optimistic concurrency, permissions."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.product.conftest import create_product, product_doc, unique

pytestmark = pytest.mark.integration


async def test_create_read_replace_delete(
    client: httpx.AsyncClient, merchant: dict[str, str]
) -> None:
    created = await create_product(client, merchant)
    assert created["version"] == 1
    assert created["brand"]["name"] == "Acme"
    assert created["category"]["path_names"] == ["Clothing", "Men", "Shirts"]
    assert created["variants"][0]["price"] == {"amount": 3999, "currency": "EUR"}
    r = await client.get(f"/v1/products/{created['id']}")  # public read
    assert r.status_code == 200
    assert r.headers["ETag"] == '"1"'

    doc = product_doc(slug=created["slug"], name="Renamed", description="New words")
    r = await client.put(
        f"/v1/products/{created['id']}", json=doc, headers={**merchant, "If-Match": '"1"'}
    )
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Renamed"
    assert r.json()["version"] == 2
    assert r.json()["variants"][0]["id"] == created["variants"][0]["id"]  # same sku, same id

    r = await client.delete(f"/v1/products/{created['id']}", headers=merchant)
    assert r.status_code == 204
    assert (await client.get(f"/v1/products/{created['id']}")).status_code == 404


async def test_stale_version_is_a_conflict(
    client: httpx.AsyncClient, merchant: dict[str, str]
) -> None:
    created = await create_product(client, merchant)
    url = f"/v1/products/{created['id']}"
    first = product_doc(slug=created["slug"], name="First writer")
    second = product_doc(slug=created["slug"], name="Second writer")
    r = await client.put(url, json=first, headers={**merchant, "If-Match": '"1"'})
    assert r.status_code == 200
    r = await client.put(url, json=second, headers={**merchant, "If-Match": '"1"'})
    assert r.status_code == 409
    assert r.json()["type"].endswith("/version-conflict")
    assert r.json()["current_version"] == 2
    r = await client.put(url, json=second, headers=merchant)  # no If-Match at all
    assert r.status_code == 428
    r = await client.delete(url, headers={**merchant, "If-Match": '"1"'})
    assert r.status_code == 409


@pytest.mark.parametrize(
    ("price", "why"),
    [
        ({"amount": 39.99, "currency": "EUR"}, "float"),
        ({"amount": 3999, "currency": "EUX"}, "unknown currency"),
        ({"amount": 3999, "currency": "eur"}, "lower-case code"),
        ({"amount": -1, "currency": "EUR"}, "negative"),
        ({"major": "39.999", "currency": "EUR"}, "three decimals for EUR"),
        ({"major": "10.5", "currency": "JPY"}, "decimals for JPY"),
        ({"amount": "3999", "currency": "EUR"}, "string amount"),
    ],
)
async def test_invalid_money_is_422(
    client: httpx.AsyncClient, merchant: dict[str, str], price: dict[str, object], why: str
) -> None:
    doc = product_doc()
    doc["variants"][0]["price"] = price
    r = await client.post("/v1/products", json=doc, headers=merchant)
    assert r.status_code == 422, why
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_major_units_are_converted(
    client: httpx.AsyncClient, merchant: dict[str, str]
) -> None:
    doc = product_doc()
    doc["variants"][0]["price"] = {"major": "12.5", "currency": "KWD"}
    r = await client.post("/v1/products", json=doc, headers=merchant)
    assert r.status_code == 201, r.text
    assert r.json()["variants"][0]["price"] == {"amount": 12500, "currency": "KWD"}


async def test_writes_need_catalog_write(
    client: httpx.AsyncClient, customer: dict[str, str]
) -> None:
    doc = product_doc()
    assert (await client.post("/v1/products", json=doc)).status_code == 401
    r = await client.post("/v1/products", json=doc, headers=customer)
    assert r.status_code == 403
    assert r.json()["required"] == ["catalog:write"]
    r = await client.post("/v1/categories", json={"name": "X"}, headers=customer)
    assert r.status_code == 403
    r = await client.post("/v1/brands", json={"name": "X"}, headers=customer)
    assert r.status_code == 403


async def test_duplicate_slug_and_foreign_sku(
    client: httpx.AsyncClient, merchant: dict[str, str]
) -> None:
    created = await create_product(client, merchant)
    r = await client.post("/v1/products", json=product_doc(slug=created["slug"]), headers=merchant)
    assert r.status_code == 409
    other = product_doc()
    other["variants"][0]["sku"] = created["variants"][0]["sku"]
    r = await client.post("/v1/products", json=other, headers=merchant)
    assert r.status_code == 409
    assert "belong to another product" in r.json()["detail"]


async def test_variants_crud(client: httpx.AsyncClient, merchant: dict[str, str]) -> None:
    created = await create_product(client, merchant)
    base = f"/v1/products/{created['id']}/variants"
    new = {"sku": unique("SKU").upper(), "price": {"amount": 100, "currency": "EUR"}}
    r = await client.post(base, json=new, headers=merchant)
    assert r.status_code == 201, r.text
    variant = r.json()
    r = await client.post(base, json=new, headers=merchant)
    assert r.status_code == 409
    changed = {**new, "name": "L", "price": {"amount": 150, "currency": "EUR"}}
    r = await client.put(f"{base}/{variant['id']}", json=changed, headers=merchant)
    assert r.status_code == 200
    assert r.json()["price"]["amount"] == 150
    r = await client.put(
        f"{base}/{variant['id']}", json={**changed, "sku": "OTHER-SKU"}, headers=merchant
    )
    assert r.status_code == 422
    assert len((await client.get(base)).json()) == 2
    r = await client.delete(f"{base}/{variant['id']}", headers=merchant)
    assert r.status_code == 204
    assert (await client.get(f"{base}/{variant['id']}")).status_code == 404
    product = (await client.get(f"/v1/products/{created['id']}")).json()
    assert product["version"] == 4


async def test_listing_filters_and_pages(
    client: httpx.AsyncClient, merchant: dict[str, str]
) -> None:
    root = unique("Root")
    brand = unique("Brand")
    made = [
        await create_product(client, merchant, category=[root, "A"], brand=brand),
        await create_product(client, merchant, category=[root, "A", "Deep"], brand=brand),
        await create_product(client, merchant, category=[root, "B"], status="draft"),
    ]
    root_id = made[0]["category"]["path_ids"][0]
    a_id = made[0]["category"]["id"]
    brand_id = made[0]["brand"]["id"]

    async def ids(**params: str) -> set[str]:
        found: set[str] = set()
        cursor = None
        while True:
            query: dict[str, str | int] = {**params, "limit": 1}
            if cursor:
                query["cursor"] = cursor
            page = (await client.get("/v1/products", params=query)).json()
            found |= {p["id"] for p in page["items"]}
            cursor = page["next_cursor"]
            if cursor is None:
                return found

    assert await ids(category_id=root_id) == {p["id"] for p in made}
    assert await ids(category_id=a_id) == {made[0]["id"], made[1]["id"]}  # the subtree
    assert await ids(brand_id=brand_id) == {made[0]["id"], made[1]["id"]}
    assert await ids(category_id=root_id, status="draft") == {made[2]["id"]}


async def test_attribute_definitions_are_enforced(
    client: httpx.AsyncClient, merchant: dict[str, str]
) -> None:
    name = f"fit_{unique('a').replace('-', '_')}"
    r = await client.post(
        "/v1/attributes",
        json={"name": name, "type": "enum", "allowed_values": ["slim", "regular"]},
        headers=merchant,
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        "/v1/products", json=product_doc(attributes={name: "baggy"}), headers=merchant
    )
    assert r.status_code == 422
    assert r.json()["type"].endswith("/invalid-attribute")
    r = await client.post(
        "/v1/products", json=product_doc(attributes={name: "slim"}), headers=merchant
    )
    assert r.status_code == 201
    assert any(a["name"] == name for a in (await client.get("/v1/attributes")).json())


async def test_brands(client: httpx.AsyncClient, merchant: dict[str, str]) -> None:
    name = unique("Brand")
    r = await client.post("/v1/brands", json={"name": name}, headers=merchant)
    assert r.status_code == 201
    brand = r.json()
    assert (
        await client.post("/v1/brands", json={"name": name}, headers=merchant)
    ).status_code == 409
    r = await client.patch(f"/v1/brands/{brand['id']}", json={"name": name + "x"}, headers=merchant)
    assert r.status_code == 200
    assert r.json()["name"] == name + "x"
    await create_product(client, merchant, brand=name + "x")
    r = await client.delete(f"/v1/brands/{brand['id']}", headers=merchant)
    assert r.status_code == 409  # still used
