"""The OpenSearch backend's pure parts: request -> body, response -> result, documents."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.search.models import (
    Filters,
    PriceRange,
    RankingConfig,
    SearchDocument,
    SearchRequest,
    SynonymGroup,
)
from services.search.opensearch import index, query

pytestmark = pytest.mark.unit
BOUNDS = [0, 1000, 2500]


def body(**request: Any) -> dict[str, Any]:
    match = request.pop("match", "fulltext")
    return query.search_body(SearchRequest(**request), match, price_bounds=BOUNDS)


def test_filters_follow_the_postgres_semantics() -> None:
    filters = Filters(
        category="c1",
        brand=["Acme"],
        min_price=100,
        max_price=900,
        in_stock=True,
        attributes={"size": ["M", "L"]},
    )
    ranking = RankingConfig(in_stock_boost=1.0)  # no boosts: no function_score around it
    found = body(filters=filters, currency="JPY", ranking=ranking)["query"]["bool"]["filter"]
    assert {"term": {"status": "active"}} in found
    assert {"term": {"category_ids": "c1"}} in found
    assert {"terms": {"brand.raw": ["Acme"]}} in found
    assert {"range": {"prices.JPY.min": {"gte": 100, "lte": 900}}} in found
    assert {"term": {"in_stock": True}} in found
    assert {"terms": {"attr_pairs": ["size=L", "size=M"]}} in found


def test_field_weights_become_boosts_and_zero_weights_drop_the_field() -> None:
    ranking = RankingConfig(field_weights={"name": 3.0, "description": 0.0, "brand": 0.5})
    text = body(q="shirt", ranking=ranking, match="fuzzy")["query"]
    while "function_score" in text:
        text = text["function_score"]["query"]
    inner = text["bool"]["must"][0]["bool"]
    assert inner["must"][0]["match"]["all_text"]["operator"] == "and"
    multi = inner["should"][0]["multi_match"]
    assert multi["fields"] == ["name^3", "brand^0.5"]
    assert multi["fuzziness"] == "AUTO"


def test_only_the_fuzzy_pass_is_fuzzy_and_asks_for_corrections() -> None:
    exact = body(q="shirt")
    assert "suggest" not in exact
    assert "fuzziness" not in str(exact["query"])
    assert body(q="shrit", match="fuzzy")["suggest"]["text"] == "shrit"


def test_boosts_multiply_the_score() -> None:
    ranking = RankingConfig(
        in_stock_boost=2.0, brand_boosts={"Acme": 3.0}, category_boosts={"c1": 1.5}
    )
    q = body(q="shirt", ranking=ranking)["query"]
    outer = q["function_score"]
    assert outer["score_mode"] == "max"
    assert outer["functions"] == [{"filter": {"term": {"category_ids": "c1"}}, "weight": 1.5}]
    inner = outer["query"]["function_score"]
    assert inner["score_mode"] == "multiply"
    assert {"filter": {"term": {"brand.raw": "Acme"}}, "weight": 3.0} in inner["functions"]


def test_price_facet_buckets_are_labelled_like_postgres() -> None:
    aggs = body(facets=["price"])["aggs"]["f0"]["range"]
    assert aggs["field"] == "prices.EUR.min"
    assert [r["key"] for r in aggs["ranges"]] == ["0-1000", "1000-2500", "2500-"]


def test_attribute_facet_names_are_regex_escaped() -> None:
    agg = body(facets=["attr.fit.type"])["aggs"]["f0"]["terms"]
    assert agg["include"] == "fit\\.type\\=.*"


def test_a_response_becomes_a_result() -> None:
    request = SearchRequest(q="shrit", facets=["category", "attr.size", "in_stock"])
    response = {
        "hits": {
            "total": {"value": 1},
            "hits": [
                {
                    "_score": 1.5,
                    "_source": {
                        "product_id": "p1",
                        "slug": "s",
                        "name": "Shirt",
                        "brand": None,
                        "category_path": ["Clothing"],
                        "prices": {"EUR": {"min": 1, "max": 2}},
                        "in_stock": True,
                        "image_url": None,
                    },
                }
            ],
        },
        "aggregations": {
            "f0": {"buckets": [{"key": f"c1{index.KEY_SEPARATOR}Clothing", "doc_count": 1}]},
            "f1": {"buckets": [{"key": "size=M", "doc_count": 1}]},
            "f2": {"buckets": [{"key": 1, "key_as_string": "true", "doc_count": 1}]},
        },
        "suggest": {"fix": [{"text": "shrit", "options": [{"text": "shirt"}]}]},
    }
    result = query.search_result(request, response, "fuzzy")
    assert result.hits[0].price == PriceRange(min=1, max=2)
    assert result.facets["category"][0].model_dump() == {
        "value": "c1",
        "label": "Clothing",
        "count": 1,
    }
    assert result.facets["attr.size"][0].value == "M"
    assert result.facets["in_stock"][0].value == "true"
    assert result.corrected_query == "shirt"


def test_synonym_rules_carry_words_only() -> None:
    groups = [SynonymGroup(terms=["T-Shirt", "tee, top"]), SynonymGroup(terms=["a=>b", "c"])]
    assert index.synonym_rules(groups) == ["t-shirt, tee top", "a b, c"]


def document(**fields: Any) -> SearchDocument:
    return SearchDocument(
        product_id="p1",
        version=3,
        slug="s",
        name="Acme Oxford Shirt",
        category_ids=["c1", "c2", "c3"],
        category_path=["A", "B", "C"],
        attributes={"size": ["M"]},
        prices={"EUR": PriceRange(min=1, max=2)},
        changed_at=datetime.now(UTC),
        **fields,
    )


def test_only_active_products_are_suggested() -> None:
    now = datetime.now(UTC)
    active = index.product_body(document(), available=1, created_at=now)
    assert active["suggest"][0]["input"] == ["Acme Oxford Shirt"]
    assert active["suggest"][1]["input"] == ["Oxford Shirt", "Shirt"]
    assert active["attr_pairs"] == ["size=M"]
    draft = index.product_body(document(status="draft"), available=1, created_at=now)
    assert "suggest" not in draft


def test_a_category_move_keeps_the_path_below_it() -> None:
    now = datetime.now(UTC)
    held = index.product_body(document(), available=0, created_at=now)
    moved = index.with_category_path(held, "c2", ["x", "c2"], ["X", "Bee"])
    assert moved["category_ids"] == ["x", "c2", "c3"]
    assert moved["category_path"] == ["X", "Bee", "C"]
    assert moved["category_keys"][1] == f"c2{index.KEY_SEPARATOR}Bee"


def test_versions_order_product_changes_above_stock_corrections() -> None:
    assert index.product_version(2) > index.product_version(1) + 1000
    assert index.stock_version(datetime(2026, 1, 1, tzinfo=UTC)) > 0
