"""What every `SearchBackend` must do, run against PostgreSQL and OpenSearch alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.search.backend import SearchBackend, UnknownName
from services.search.models import (
    Filters,
    RankingConfig,
    SearchRequest,
    StockLevel,
    SynonymGroup,
)
from tests.integration.search_opensearch.conftest import product

pytestmark = pytest.mark.integration


def ids(result: object) -> list[str]:
    return [h.product_id for h in result.hits]  # type: ignore[attr-defined]


async def catalogue(backend: SearchBackend) -> dict[str, str]:
    docs = {
        "oxford": product(
            name="Acme Oxford Shirt",
            brand="Acme",
            description="A cotton shirt with a button-down collar",
            category_id="c-shirts",
            category_ids=["c-clothing", "c-shirts"],
            category_path=["Clothing", "Shirts"],
            attributes={"colour": ["blue", "white"], "size": ["M", "L"]},
            price=3999,
        ),
        "tee": product(
            name="Acme Basic Tee",
            brand="Acme",
            category_id="c-shirts",
            category_ids=["c-clothing", "c-shirts"],
            category_path=["Clothing", "Shirts"],
            attributes={"colour": ["black"], "size": ["S"]},
            price=1500,
        ),
        "shoe": product(
            name="Globex Running Shoe",
            brand="Globex",
            category_id="c-shoes",
            category_ids=["c-clothing", "c-shoes"],
            category_path=["Clothing", "Shoes"],
            attributes={"colour": ["red"]},
            price=8999,
        ),
        "mug": product(
            name="Initech Coffee Mug",
            brand="Initech",
            category_id="c-kitchen",
            category_ids=["c-home", "c-kitchen"],
            category_path=["Home", "Kitchen"],
            price=799,
        ),
    }
    assert await backend.index_documents(list(docs.values())) == len(docs)
    return {key: doc.product_id for key, doc in docs.items()}


async def test_indexed_products_are_found_by_their_words(backend: SearchBackend) -> None:
    p = await catalogue(backend)
    found = await backend.search(SearchRequest(q="oxford shirt"))
    assert ids(found)[0] == p["oxford"]
    assert found.matched_by == "fulltext"
    hit = found.hits[0]
    assert (hit.name, hit.brand, hit.category_path) == (
        "Acme Oxford Shirt",
        "Acme",
        ["Clothing", "Shirts"],
    )
    assert hit.price is not None
    assert hit.price.min == 3999
    # every word must match for a full-text hit: no product is both coffee and a shirt
    assert (await backend.search(SearchRequest(q="coffee shirt"))).matched_by == "fuzzy"
    everything = await backend.search(SearchRequest())
    assert everything.matched_by == "all"
    assert everything.total == 4


async def test_typos_are_tolerated(backend: SearchBackend) -> None:
    p = await catalogue(backend)
    found = await backend.search(SearchRequest(q="oxfrod shrit"))
    assert found.matched_by == "fuzzy"
    assert p["oxford"] in ids(found)
    assert found.corrected_query is not None
    assert "oxford" in found.corrected_query


async def test_facet_counts_over_the_filtered_matches(backend: SearchBackend) -> None:
    await catalogue(backend)
    facets = ["brand", "category", "price", "attr.colour", "in_stock"]
    result = await backend.search(SearchRequest(facets=facets))
    counts = {name: {v.value: v.count for v in values} for name, values in result.facets.items()}
    assert counts["brand"] == {"Acme": 2, "Globex": 1, "Initech": 1}
    assert counts["category"]["c-clothing"] == 3
    assert counts["category"]["c-shirts"] == 2
    labels = {v.value: v.label for v in result.facets["category"]}
    assert labels["c-shirts"] == "Shirts"
    assert counts["price"] == {"0-1000": 1, "1000-2500": 1, "2500-5000": 1, "5000-10000": 1}
    assert counts["attr.colour"] == {"blue": 1, "white": 1, "black": 1, "red": 1}
    assert counts["in_stock"] == {"false": 4}

    shirts = await backend.search(
        SearchRequest(filters=Filters(category="c-shirts"), facets=["brand", "attr.size"])
    )
    assert shirts.total == 2
    assert {v.value: v.count for v in shirts.facets["attr.size"]} == {"M": 1, "L": 1, "S": 1}
    assert {v.value: v.count for v in shirts.facets["brand"]} == {"Acme": 2}


async def test_filters(backend: SearchBackend) -> None:
    p = await catalogue(backend)

    async def matching(**filters: object) -> set[str]:
        found = await backend.search(SearchRequest(filters=Filters(**filters)))
        return set(ids(found))

    assert await matching(brand=["Globex", "Initech"]) == {p["shoe"], p["mug"]}
    assert await matching(category="c-clothing") == {p["oxford"], p["tee"], p["shoe"]}
    assert await matching(min_price=1000, max_price=5000) == {p["oxford"], p["tee"]}
    assert await matching(attributes={"colour": ["white", "red"]}) == {p["oxford"], p["shoe"]}
    assert await matching(attributes={"colour": ["blue"], "size": ["S"]}) == set()


async def test_unknown_facet_or_attribute_filter_is_refused(backend: SearchBackend) -> None:
    await catalogue(backend)
    assert "attr.colour" in await backend.facet_names()
    with pytest.raises(UnknownName) as facet:
        await backend.search(SearchRequest(facets=["attr.flavour"]))
    assert "attr.colour" in facet.value.valid
    with pytest.raises(UnknownName):
        await backend.search(SearchRequest(facets=["colour"]))
    with pytest.raises(UnknownName):
        await backend.search(SearchRequest(filters=Filters(attributes={"flavour": ["mint"]})))


async def test_synonyms_apply_without_reindexing(backend: SearchBackend) -> None:
    p = await catalogue(backend)
    before = await backend.search(SearchRequest(q="sneaker"))
    assert p["shoe"] not in ids(before)
    await backend.set_synonyms([SynonymGroup(terms=["sneaker", "running shoe"])])
    after = await backend.search(SearchRequest(q="sneaker"))
    assert ids(after) == [p["shoe"]]
    assert after.matched_by == "fulltext"
    await backend.set_synonyms([])
    assert p["shoe"] not in ids(await backend.search(SearchRequest(q="sneaker")))


async def test_versions_stale_and_duplicate_writes_are_ignored(backend: SearchBackend) -> None:
    doc = product(name="Hooli Phone", version=2)
    assert await backend.index_documents([doc]) == 1
    assert await backend.index_documents([doc]) == 0  # re-delivered
    old = doc.model_copy(update={"version": 1, "name": "Hooli Pager"})
    assert await backend.index_documents([old]) == 0
    assert ids(await backend.search(SearchRequest(q="pager"))) == []
    new = doc.model_copy(update={"version": 3, "name": "Hooli Phone Two"})
    assert await backend.index_documents([new]) == 1
    assert (await backend.search(SearchRequest(q="phone"))).hits[0].name == "Hooli Phone Two"


async def test_deleted_products_disappear_and_stay_deleted(backend: SearchBackend) -> None:
    p = await catalogue(backend)
    mug = product(p["mug"], version=1, name="Initech Coffee Mug", brand="Initech", price=799)
    assert not await backend.delete(p["mug"], 1)  # not newer than what the index holds
    assert ids(await backend.search(SearchRequest(q="mug"))) == [p["mug"]]
    assert await backend.delete(p["mug"], 2)
    assert ids(await backend.search(SearchRequest(q="mug"))) == []
    assert not await backend.delete(p["mug"], 2)  # re-delivered
    # a late product.changed of an older version cannot resurrect it
    assert await backend.index_documents([mug.model_copy(update={"version": 2})]) == 0
    assert ids(await backend.search(SearchRequest(q="mug"))) == []
    assert (await backend.search(SearchRequest())).total == 3
    assert all(s.product_id != p["mug"] for s in await backend.suggest("Initech"))


async def test_stock_makes_products_in_stock_and_old_levels_are_ignored(
    backend: SearchBackend,
) -> None:
    now = datetime.now(UTC)
    early = StockLevel(variant_id="v-early", product_id="p-early", available=4, changed_at=now)
    assert await backend.set_stock([early]) == 1  # stock known before the product
    shirt = product("p-early", name="Umbrella Shirt", variants=["v-early", "v-other"])
    await backend.index_documents([shirt])

    async def in_stock() -> bool:
        return (await backend.search(SearchRequest(q="umbrella"))).hits[0].in_stock

    assert await in_stock()
    gone = early.model_copy(update={"available": 0, "changed_at": now + timedelta(seconds=1)})
    assert await backend.set_stock([gone]) == 1
    assert not await in_stock()
    stale = early.model_copy(update={"available": 9, "changed_at": now - timedelta(seconds=1)})
    assert await backend.set_stock([stale]) == 0
    assert not await in_stock()
    other = StockLevel(variant_id="v-other", product_id="p-early", available=1, changed_at=now)
    assert await backend.set_stock([other]) == 1
    assert await in_stock()
    only = await backend.search(SearchRequest(filters=Filters(in_stock=True)))
    assert ids(only) == ["p-early"]


async def test_suggestions_complete_prefixes(backend: SearchBackend) -> None:
    p = await catalogue(backend)
    names = [s.text for s in await backend.suggest("acme ox")]
    assert names[0] == "Acme Oxford Shirt"
    acme = {s.product_id for s in await backend.suggest("acm", limit=5)}
    assert {p["oxford"], p["tee"]} <= acme
    assert await backend.suggest("   ") == []


async def test_category_rename_rewrites_the_subtree(backend: SearchBackend) -> None:
    p = await catalogue(backend)
    changed = await backend.rename_category("c-clothing", ["c-clothing"], ["Apparel"])
    assert changed == 3
    found = await backend.search(SearchRequest(q="oxford"))
    assert found.hits[0].category_path == ["Apparel", "Shirts"]
    moved = await backend.rename_category("c-shirts", ["c-home", "c-shirts"], ["Home", "Tops"])
    assert moved == 2
    home = await backend.search(SearchRequest(filters=Filters(category="c-home")))
    assert set(ids(home)) == {p["oxford"], p["tee"], p["mug"]}


async def test_sorting_paging_and_boosts(backend: SearchBackend) -> None:
    p = await catalogue(backend)
    cheap = await backend.search(SearchRequest(sort="price_asc", page_size=2))
    assert cheap.total == 4
    assert ids(cheap) == [p["mug"], p["tee"]]
    page2 = await backend.search(SearchRequest(sort="price_asc", page_size=2, page=2))
    assert ids(page2) == [p["oxford"], p["shoe"]]
    dear = await backend.search(SearchRequest(sort="price_desc", page_size=1))
    assert ids(dear) == [p["shoe"]]
    plain = await backend.search(SearchRequest(q="clothing"))
    assert len(plain.hits) == 3
    boosted = await backend.search(
        SearchRequest(q="clothing", ranking=RankingConfig(brand_boosts={"Globex": 10.0}))
    )
    assert ids(boosted)[0] == p["shoe"]
    personal = await backend.search(
        SearchRequest(q="clothing", personal_categories={"c-shirts": 1.0})
    )
    assert set(ids(personal)[:2]) == {p["oxford"], p["tee"]}
