"""The seeded catalogue generator and the CSV/JSON Lines codec of the bulk import and export."""

from __future__ import annotations

import io
import json
import tracemalloc
from collections import Counter
from pathlib import Path

import pytest

from services.product import exporter, generator, importer
from services.product.documents import ProductIn

pytestmark = pytest.mark.unit


def test_same_seed_same_catalogue_and_item_independent_of_count() -> None:
    small = list(generator.generate(20, seed=7))
    assert small == list(generator.generate(20, seed=7))
    assert list(generator.generate(50, seed=7))[:20] == small
    assert generator.product(13, seed=7) == small[13]
    assert list(generator.generate(20, seed=8)) != small


def test_generated_products_are_valid_unique_and_varied() -> None:
    docs = list(generator.generate(600, seed=42))
    for doc in docs:
        ProductIn.model_validate(doc)
    assert len({d["slug"] for d in docs}) == len(docs)
    skus = [v["sku"] for d in docs for v in d["variants"]]
    assert len(set(skus)) == len(skus)
    counts = Counter(len(d["variants"]) for d in docs)
    assert set(counts) <= set(range(1, 7))
    assert len(counts) >= 5
    assert {len(d["category"]) for d in docs} == {3}
    currencies = Counter(v["price"]["currency"] for d in docs for v in d["variants"])
    assert currencies.most_common(1)[0][0] == "EUR"
    assert "JPY" in currencies
    axes = {k for d in docs for v in d["variants"] for k in v["attributes"]}
    assert {"size", "colour"} <= axes


def test_taxonomy_and_brand_scale() -> None:
    assert 180 <= generator.category_count() <= 240
    cat = generator.catalogue(42)
    brands = {b.name for group in cat.brands_by_department.values() for b in group}
    assert len(brands) == generator.BRAND_COUNT


def test_brands_follow_a_long_tail() -> None:
    docs = list(generator.generate(2000, seed=3))
    brands = Counter(d["brand"] for d in docs).most_common()
    top = sum(n for _, n in brands[:10])
    assert top > 0.2 * len(docs)  # a few brands are common...
    assert len(brands) > 150  # ...and most appear rarely


def test_descriptions_use_real_words() -> None:
    doc = generator.product(0, seed=1)
    words = doc["description"].split()
    assert len(words) > 20
    assert doc["brand"] in doc["description"]


def _csv(text: str) -> list[importer.Parsed]:
    return list(importer.read_csv(io.StringIO(text)))


HEADER = ",".join(exporter.CSV_COLUMNS) + "\n"


def test_csv_rows_group_into_products_with_variant_lines() -> None:
    text = HEADER + (
        "tee,Tee,Soft,active,Acme,Clothing > Men,material=cotton,,T-S,S,size=S,9.99,EUR,100\n"
        "tee,Tee,Soft,active,Acme,Clothing > Men,material=cotton,,T-M,M,size=M,10.99,EUR,\n"
        'mug,Mug,"two\nlines",draft,,"[""Home"", ""A > B""]","{""a;b"":""c""}",,MUG-1,,,4980,JPY,\n'
    )
    tee, mug = _csv(text)
    assert tee.line == 2
    assert tee.variant_lines == [2, 3]
    doc = importer.validate(tee)
    assert isinstance(doc, ProductIn)
    assert doc.category == ["Clothing", "Men"]
    assert doc.attributes == {"material": "cotton"}
    assert [v.price.amount for v in doc.variants] == [999, 1099]
    assert doc.variants[0].weight_grams == 100
    assert doc.variants[1].weight_grams is None
    assert mug.line == 4
    mug_doc = importer.validate(mug)
    assert isinstance(mug_doc, ProductIn)
    assert mug_doc.description == "two\nlines"
    assert mug_doc.category == ["Home", "A > B"]
    assert mug_doc.attributes == {"a;b": "c"}
    assert mug_doc.variants[0].price.amount == 4980


def test_csv_errors_name_line_column_and_sku() -> None:
    text = HEADER + (
        "tee,Tee,,active,,,,,T-S,S,,9.999,EUR,\n"
        "tee,Tee,,active,,,,,T-M,M,,9.99,EURO,\n"
        "tee,Tee,,active,,,,,T-L,L,oops,9.99,EUR,heavy\n"
    )
    (tee,) = _csv(text)
    errors = importer.validate(tee)
    assert isinstance(errors, list)
    found = {(e.line, e.sku, e.field) for e in errors}
    assert (4, "T-L", "variant_attributes") in found
    assert (4, "T-L", "weight_grams") in found
    text = HEADER + "tee,Tee,,active,,,,,T-S,S,,9.999,EUR,\ntee,Tee,,active,,,,,T-M,M,,9.99,EURO,\n"
    errors = importer.validate(_csv(text)[0])
    assert isinstance(errors, list)
    assert {(e.line, e.sku, e.field) for e in errors} == {
        (2, "T-S", "price"),
        (3, "T-M", "currency"),
    }


def test_csv_product_columns_must_repeat_unchanged() -> None:
    text = HEADER + "tee,Tee,,active,,,,,T-S,,,1,EUR,\ntee,Other,,active,,,,,T-M,,,1,EUR,\n"
    errors = importer.validate(_csv(text)[0])
    assert isinstance(errors, list)
    assert [(e.line, e.field) for e in errors] == [(3, "name")]


def test_csv_header_must_be_known() -> None:
    with pytest.raises(importer.ImportFileError):
        _csv("slug,name,colour\n")
    with pytest.raises(importer.ImportFileError):
        _csv("name,price\n")


def test_csv_short_row_is_a_row_error() -> None:
    (bad,) = _csv(HEADER + "tee,Tee\n")
    assert bad.doc is None
    assert bad.errors[0].line == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {}),
        ("size=M;colour=blue", {"size": "M", "colour": "blue"}),
        (" size = M ; ", {"size": "M"}),
        ('{"a=b": "c;d"}', {"a=b": "c;d"}),
    ],
)
def test_parse_pairs(text: str, expected: dict[str, str]) -> None:
    assert importer.parse_pairs(text) == expected


@pytest.mark.parametrize("text", ["size", "=M", "{not json", '{"a": 1}', "[1]"])
def test_parse_pairs_rejects(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        importer.parse_pairs(text)


@pytest.mark.parametrize(
    "values",
    [{}, {"size": "M"}, {"a;b": "c"}, {"k": "{x"}, {"k": " padded "}, {"k": "a=b"}],
)
def test_pairs_round_trip(values: dict[str, str]) -> None:
    assert importer.parse_pairs(exporter.format_pairs(values)) == values


@pytest.mark.parametrize("path", [[], ["A"], ["Home & Kitchen", "Decor"], ["A > B", "C"]])
def test_category_round_trip(path: list[str]) -> None:
    assert importer.parse_category(exporter.format_category(path)) == path


def test_generated_catalogue_round_trips_through_csv_and_jsonl() -> None:
    docs = [ProductIn.model_validate(d) for d in generator.generate(150, seed=5)]
    plain = [d.model_dump(mode="json") for d in docs]
    for fmt in ("csv", "jsonl"):
        text = "".join(exporter.encode(plain, fmt))
        parsed = list(importer.read(io.BytesIO(text.encode()), fmt))
        assert [importer.validate(p) for p in parsed] == docs


def test_jsonl_errors_have_line_numbers_and_fields() -> None:
    good = json.dumps(generator.product(0, seed=1))
    bad_price = generator.product(1, seed=1)
    bad_price["variants"][0]["price"] = {"amount": 9.5, "currency": "EUR"}
    missing = {"slug": "no-name"}
    lines = [
        good,
        "",
        '{"slug": "broken", "name": ',
        json.dumps(bad_price),
        json.dumps(missing),
        "[1, 2]",
    ]
    parsed = list(importer.read_jsonl(io.BytesIO("\n".join(lines).encode())))
    assert [p.line for p in parsed] == [1, 3, 4, 5, 6]
    results = [importer.validate(p) for p in parsed]
    assert isinstance(results[0], ProductIn)
    broken = results[1]
    assert isinstance(broken, list)
    assert broken[0].slug == "broken"
    assert "JSON" in broken[0].message
    price = results[2]
    assert isinstance(price, list)
    assert price[0].field == "variants.0.price.amount"
    assert price[0].sku == bad_price["variants"][0]["sku"]
    assert price[0].line == 4
    name = results[3]
    assert isinstance(name, list)
    assert (name[0].line, name[0].slug, name[0].field) == (5, "no-name", "name")
    assert isinstance(results[4], list)


def test_reading_a_large_file_keeps_memory_bounded(tmp_path: Path) -> None:
    """Products are read and validated one at a time: memory does not grow with the file (what
    stays is pydantic-core's string cache, which is capped)."""
    path = tmp_path / "big.jsonl"
    with path.open("w") as out:
        for chunk in exporter.encode(generator.generate(8000, seed=2), "jsonl"):
            out.write(chunk)
    size = path.stat().st_size
    tracemalloc.start()
    try:
        with path.open("rb") as source:
            valid = sum(
                isinstance(importer.validate(p), ProductIn) for p in importer.read(source, "jsonl")
            )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert valid == 8000
    assert peak < 2 * 2**20 < size / 3, f"peak {peak} bytes for a {size}-byte file"
