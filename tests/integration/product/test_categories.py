"""The category tree: subtree and ancestors, moving a subtree, cycles, delete-if-empty."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.product.conftest import create_product, unique

pytestmark = pytest.mark.integration


async def make(
    client: httpx.AsyncClient, headers: dict[str, str], name: str, parent: str | None = None
) -> dict[str, Any]:
    r = await client.post(
        "/v1/categories", json={"name": name, "parent_id": parent}, headers=headers
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_subtree_ancestors_and_move(
    client: httpx.AsyncClient, merchant: dict[str, str]
) -> None:
    root = await make(client, merchant, unique("Root"))
    a = await make(client, merchant, "A", root["id"])
    b = await make(client, merchant, "B", root["id"])
    a1 = await make(client, merchant, "A1", a["id"])
    a11 = await make(client, merchant, "A11", a1["id"])

    subtree = (await client.get(f"/v1/categories/{a['id']}/subtree")).json()
    assert [c["name"] for c in subtree] == ["A", "A1", "A11"]
    ancestors = (await client.get(f"/v1/categories/{a11['id']}/ancestors")).json()
    assert [c["id"] for c in ancestors] == [root["id"], a["id"], a1["id"], a11["id"]]

    r = await client.post(
        f"/v1/categories/{a1['id']}/move", json={"parent_id": b["id"]}, headers=merchant
    )
    assert r.status_code == 200, r.text
    assert [c["name"] for c in r.json()] == ["A1", "A11"]
    ancestors = (await client.get(f"/v1/categories/{a11['id']}/ancestors")).json()
    assert [c["name"] for c in ancestors] == [root["name"], "B", "A1", "A11"]
    assert (await client.get(f"/v1/categories/{a1['id']}")).json()["parent_id"] == b["id"]

    r = await client.post(
        f"/v1/categories/{a1['id']}/move", json={"parent_id": None}, headers=merchant
    )
    assert r.status_code == 200
    assert (await client.get(f"/v1/categories/{a11['id']}")).json()["depth"] == 1


async def test_moving_under_itself_or_a_descendant_is_refused(
    client: httpx.AsyncClient, merchant: dict[str, str]
) -> None:
    root = await make(client, merchant, unique("Root"))
    child = await make(client, merchant, "Child", root["id"])
    grandchild = await make(client, merchant, "Grandchild", child["id"])
    for target in (root, child, grandchild):
        r = await client.post(
            f"/v1/categories/{root['id']}/move", json={"parent_id": target["id"]}, headers=merchant
        )
        assert r.status_code == 409, target["name"]
        assert r.json()["type"].endswith("/category-cycle")
    subtree = (await client.get(f"/v1/categories/{root['id']}/subtree")).json()
    assert len(subtree) == 3  # unchanged


async def test_rename_and_delete_only_when_empty(
    client: httpx.AsyncClient, merchant: dict[str, str]
) -> None:
    root = await make(client, merchant, unique("Root"))
    child = await make(client, merchant, "Child", root["id"])
    r = await client.patch(f"/v1/categories/{child['id']}", json={"name": "Kid"}, headers=merchant)
    assert r.status_code == 200
    assert r.json()["name"] == "Kid"
    dup = await client.post(
        "/v1/categories", json={"name": "Kid", "parent_id": root["id"]}, headers=merchant
    )
    assert dup.status_code == 409
    r = await client.delete(f"/v1/categories/{root['id']}", headers=merchant)
    assert r.status_code == 409
    assert r.json()["type"].endswith("/category-not-empty")
    product = await create_product(client, merchant, category=[root["name"], "Kid"])
    assert product["category"]["id"] == child["id"]
    r = await client.delete(f"/v1/categories/{child['id']}", headers=merchant)
    assert r.status_code == 409
    await client.delete(f"/v1/products/{product['id']}", headers=merchant)
    assert (
        await client.delete(f"/v1/categories/{child['id']}", headers=merchant)
    ).status_code == 204
    assert (
        await client.delete(f"/v1/categories/{root['id']}", headers=merchant)
    ).status_code == 204
    assert (await client.get(f"/v1/categories/{root['id']}")).status_code == 404
