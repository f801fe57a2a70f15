"""Pure parts of the search service: query text, synonyms, tsquery text, typo distance,
deterministic experiment assignment, event → document, ranking config validation, SQL shape."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.search import querytext
from services.search.indexer import document_from_event
from services.search.models import Experiment, RankingConfig, SearchRequest, SynonymGroup
from services.search.postgres.backend import _close, _edits
from services.search.postgres.sql import search_sql
from services.search.tuning import assign, bucket

pytestmark = pytest.mark.unit


def test_words_keep_hyphenated_words_and_drop_syntax() -> None:
    assert querytext.words("Red T-Shirt & (blue)!:*") == ["red", "t-shirt", "blue"]
    assert querytext.normalise("  Größe  XL ") == "größe xl"


def test_synonym_expansion_prefers_the_longest_phrase() -> None:
    index = querytext.synonym_index([["tee", "t-shirt"], ["cell phone", "mobile"]])
    positions = querytext.expand("red tee cell phone case", index)
    assert positions == [
        [("red",)],
        [("tee",), ("t-shirt",)],
        [("cell", "phone"), ("mobile",)],
        [("case",)],
    ]
    assert (
        querytext.tsquery_text(positions)
        == "red & (tee | t-shirt) & (cell <-> phone | mobile) & case"
    )
    assert querytext.tsquery_text(positions[:2], any_position=True) == "red | (tee | t-shirt)"


def test_corrections_are_added_as_alternatives() -> None:
    positions = querytext.expand("shrit blue", {})
    fixed = querytext.with_corrections(positions, {"shrit": "shirt"})
    assert querytext.tsquery_text(fixed) == "(shrit | shirt) & blue"
    assert querytext.single_words(fixed) == ["shrit", "shirt", "blue"]


def test_edit_distance_counts_a_transposition_once() -> None:
    assert _edits("shrit", "shirt") == 1
    assert _edits("flanel", "flannel") == 1
    assert _close("shrit", "shirt")
    assert not _close("cat", "dog")


def test_synonym_group_normalises_and_needs_two_terms() -> None:
    assert SynonymGroup(terms=["Tee", " T-Shirt "]).terms == ["tee", "t-shirt"]
    with pytest.raises(ValidationError):
        SynonymGroup(terms=["tee", "TEE"])


def test_assignment_is_deterministic_and_follows_the_weights() -> None:
    experiment = Experiment.model_validate(
        {
            "name": "ranking-a",
            "variants": [
                {"name": "control", "ranking": "default", "weight": 80},
                {"name": "fresh", "ranking": "fresh", "weight": 20},
            ],
        }
    )
    first = [assign(experiment, f"user-{i}").name for i in range(2000)]
    assert first == [assign(experiment, f"user-{i}").name for i in range(2000)]
    share = Counter(first)["fresh"] / 2000
    assert 0.16 < share < 0.24
    assert all(0 <= bucket("ranking-a", f"u{i}", 7) < 7 for i in range(100))


def test_ranking_config_is_validated() -> None:
    RankingConfig.model_validate({"field_weights": {"name": 2}, "brand_boosts": {"Acme": 1.5}})
    for bad in ({"field_weights": {"price": 1}}, {"in_stock_boost": -1}, {"boost": 1}):
        with pytest.raises(ValidationError):
            RankingConfig.model_validate(bad)


def test_product_changed_becomes_a_document() -> None:
    doc = document_from_event(
        {
            "product_id": "p1",
            "version": 4,
            "slug": "s",
            "name": "Oxford Shirt",
            "status": "active",
            "brand": "Acme",
            "category_ids": ["c1", "c2"],
            "category_path": ["Clothing", "Shirts"],
            "attributes": {"material": "cotton"},
            "variants": [
                {
                    "variant_id": "v1",
                    "sku": "A",
                    "attributes": {"size": "M"},
                    "price_amount": 3999,
                    "currency": "EUR",
                },
                {
                    "variant_id": "v2",
                    "sku": "B",
                    "attributes": {"size": "L"},
                    "price_amount": 4599,
                    "currency": "EUR",
                },
            ],
            "image_urls": ["https://img/1.jpg"],
            "changed_at": datetime(2026, 1, 1, tzinfo=UTC),
        }
    )
    assert doc.attributes == {"material": ["cotton"], "size": ["L", "M"]}
    assert doc.prices["EUR"].model_dump() == {"min": 3999, "max": 4599}
    assert doc.variant_ids == ["v1", "v2"]
    assert doc.image_url == "https://img/1.jpg"


def test_search_sql_passes_every_value_as_a_parameter() -> None:
    request = SearchRequest.model_validate(
        {
            "q": "x'; DROP TABLE products; --",
            "filters": {"brand": ["O'Brien"], "attributes": {"size": ["M"]}},
            "facets": ["brand", "attr.size", "price"],
        }
    )
    sql, args = search_sql(request, match="fulltext", tsquery="x", price_bounds=[0, 1000])
    assert "O'Brien" not in sql
    assert "DROP" not in sql
    assert ["O'Brien"] in args
    assert ["size=M"] in args
    assert sql.count("AS facet_") == 3
