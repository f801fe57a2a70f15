"""What only the OpenSearch backend has: the stack's node, external versions, synonym reloads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from services.search.models import SearchRequest, StockLevel, SynonymGroup
from services.search.opensearch import OpenSearchBackend
from services.search.opensearch.index import VERSION_SPAN
from tests.integration.search_opensearch.conftest import product

pytestmark = pytest.mark.integration


@pytest.fixture
async def search(opensearch_backend: OpenSearchBackend) -> AsyncIterator[OpenSearchBackend]:
    await opensearch_backend.clear()
    await opensearch_backend.set_synonyms([])
    yield opensearch_backend
    await opensearch_backend.set_synonyms([])


async def test_the_stack_runs_a_single_opensearch_node(stack_env: dict[str, str]) -> None:
    url = stack_env["KOMMERCE_OPENSEARCH_URL"]
    assert url.startswith("http://127.0.0.1:")
    async with httpx.AsyncClient(base_url=url) as http:
        info = (await http.get("/")).json()
        health = (await http.get("/_cluster/health")).json()
        jvm = (await http.get("/_nodes/_local/stats/jvm")).json()
    assert info["version"]["distribution"] == "opensearch"
    assert info["version"]["number"] == "2.19.6"
    assert health["status"] in ("green", "yellow")
    assert health["number_of_nodes"] == 1
    (node,) = jvm["nodes"].values()
    assert node["jvm"]["mem"]["heap_max_in_bytes"] == 512 * 1024 * 1024


async def test_product_versions_are_opensearch_external_versions(
    search: OpenSearchBackend,
) -> None:
    doc = product(name="Versioned Lamp", version=7, variants=["vl-1"])
    assert await search.index_documents([doc]) == 1
    held = await search.client.get(index=search.products, id=doc.product_id)
    assert held["_version"] == 7 * VERSION_SPAN
    # a stock change corrects in_stock under the next external version of the same product
    level = StockLevel(
        variant_id="vl-1", product_id=doc.product_id, available=2, changed_at=datetime.now(UTC)
    )
    assert await search.set_stock([level]) == 1
    held = await search.client.get(index=search.products, id=doc.product_id)
    assert held["_version"] == 7 * VERSION_SPAN + 1
    assert held["_source"]["in_stock"] is True
    # ... which still leaves the same product version stale, and the next one current
    assert await search.index_documents([doc]) == 0
    renamed = doc.model_copy(update={"version": 8, "name": "Versioned Lamp Two"})
    assert await search.index_documents([renamed]) == 1
    held = await search.client.get(index=search.products, id=doc.product_id)
    assert held["_source"]["in_stock"] is True  # re-derived from the stock index


async def test_a_batch_keeps_the_newest_version_of_each_product(
    search: OpenSearchBackend,
) -> None:
    one = product(name="Batch Chair", version=1)
    two = one.model_copy(update={"version": 2, "name": "Batch Stool"})
    assert await search.index_documents([two, one]) == 1
    found = await search.search(SearchRequest(q="stool"))
    assert [h.name for h in found.hits] == ["Batch Stool"]


async def test_synonym_updates_do_not_fail_concurrent_searches_or_writes(
    search: OpenSearchBackend,
) -> None:
    await search.index_documents([product(name="Comfy Sofa"), product(name="Oak Table")])
    stop = asyncio.Event()
    answered = 0

    async def keep_searching() -> None:
        nonlocal answered
        while not stop.is_set():
            await search.search(SearchRequest(q="sofa"))
            answered += 1

    written = 0

    async def keep_writing() -> None:
        nonlocal written
        while not stop.is_set():
            written += await search.index_documents([product(name=f"Chair {written}")])

    searchers = [asyncio.create_task(keep_searching()) for _ in range(2)]
    searchers.append(asyncio.create_task(keep_writing()))
    try:
        for terms in (["couch", "sofa"], ["settee", "sofa"], ["couch", "settee", "sofa"]):
            await search.set_synonyms([SynonymGroup(terms=terms)])
    finally:
        stop.set()
        await asyncio.gather(*searchers)  # a failed search would raise here
    assert answered > 0
    assert written > 0
    assert (await search.search(SearchRequest(q="chair"))).total == written
    found = await search.search(SearchRequest(q="settee"))
    assert [h.name for h in found.hits] == ["Comfy Sofa"]


async def test_synonyms_live_in_the_index_and_survive_a_rebuild(
    search: OpenSearchBackend,
) -> None:
    await search.set_synonyms([SynonymGroup(terms=["hoodie", "sweatshirt"])])
    await search.clear()
    await search.index_documents([product(name="Grey Sweatshirt")])
    assert (await search.search(SearchRequest(q="hoodie"))).total == 1
    # a second backend on the same indices (another replica) sees them too
    other = OpenSearchBackend(
        url=search.url, index_prefix=search.products.removesuffix("-products")
    )
    await other.start()
    try:
        assert await other._synonym_rules() == ["hoodie, sweatshirt"]
    finally:
        await other.close()


async def test_unchanged_synonyms_do_not_close_the_index(search: OpenSearchBackend) -> None:
    groups = [SynonymGroup(terms=["mug", "cup"])]
    await search.set_synonyms(groups)
    before = await search.client.indices.stats(index=search.products, metric="indexing")
    await search.set_synonyms(groups)
    after = await search.client.indices.stats(index=search.products, metric="indexing")
    # a close/open would reset the shard's statistics; the same rules skip it
    assert before["_all"]["primaries"] == after["_all"]["primaries"]
