"""The product service's pure logic: documents and money, category cycles, If-Match, images,
co-occurrence pairs, attribute checks, slugs."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest
from PIL import Image
from pydantic import ValidationError

from kommerce.data.objects import safe_key
from services.product.api.common import InvalidPrecondition, expected_version
from services.product.attributes import AttributeIn, problem_with
from services.product.categories import Category, moves_into_itself
from services.product.documents import ProductIn, VariantIn
from services.product.errors import NotAnImage, PreconditionRequired
from services.product.images import decode, thumbnail
from services.product.related import MAX_PRODUCTS_PER_ORDER, pairs
from services.product.slugs import slugify

pytestmark = pytest.mark.unit


def variant(**price: Any) -> dict[str, Any]:
    return {"sku": "SKU-1", "price": price}


def test_the_import_example_validates() -> None:
    doc = ProductIn.model_validate(
        {
            "slug": "acme-oxford-shirt",
            "name": "Acme Oxford Shirt",
            "status": "active",
            "brand": "Acme",
            "category": ["Clothing", "Men", "Shirts"],
            "attributes": {"material": "cotton"},
            "variants": [
                {
                    "sku": "ACME-OX-M-BLU",
                    "name": "M / Blue",
                    "attributes": {"size": "M", "colour": "blue"},
                    "price": {"amount": 3999, "currency": "EUR"},
                    "weight_grams": 250,
                }
            ],
        }
    )
    assert doc.variants[0].price.amount == 3999


@pytest.mark.parametrize(
    "price",
    [
        {"amount": 39.99, "currency": "EUR"},
        {"amount": 3999.0, "currency": "EUR"},
        {"amount": 1, "currency": "XXY"},
        {"amount": -5, "currency": "EUR"},
        {"major": "1.001", "currency": "EUR"},
        {"major": "1.5", "currency": "JPY"},
        {"major": "abc", "currency": "EUR"},
        {"major": "1", "currency": "EUR", "amount": 100},
    ],
)
def test_invalid_money(price: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        VariantIn.model_validate(variant(**price))


def test_major_units() -> None:
    assert VariantIn.model_validate(variant(major="19.99", currency="EUR")).price.amount == 1999
    assert VariantIn.model_validate(variant(major="500", currency="JPY")).price.amount == 500


def test_documents_refuse_duplicates_nul_and_unknown_fields() -> None:
    base = {"slug": "a", "name": "A"}
    with pytest.raises(ValidationError):
        ProductIn.model_validate({**base, "variants": [variant(amount=1, currency="EUR")] * 2})
    with pytest.raises(ValidationError):
        ProductIn.model_validate({**base, "description": "a\x00b"})
    with pytest.raises(ValidationError):
        ProductIn.model_validate({**base, "colour": "red"})
    with pytest.raises(ValidationError):
        ProductIn.model_validate({**base, "slug": "Not A Slug"})


def cat(path: str) -> Category:
    return Category(uuid.uuid4(), None, "x", "x", path)


def test_cycles() -> None:
    a, ab, abc, other = cat("a"), cat("a.b"), cat("a.b.c"), cat("ab")
    assert moves_into_itself(a, a)
    assert moves_into_itself(a, ab)
    assert moves_into_itself(a, abc)
    assert not moves_into_itself(a, other)  # a prefix of the label, not of the path
    assert not moves_into_itself(ab, a)
    assert not moves_into_itself(a, None)


def test_if_match() -> None:
    assert expected_version('"7"') == 7
    assert expected_version('W/"7"') == 7
    assert expected_version("*") is None
    assert expected_version(None) is None
    with pytest.raises(PreconditionRequired):
        expected_version(None, required=True)
    for bad in ('"abc"', '"-1"', '"' + "9" * 30 + '"'):
        with pytest.raises(InvalidPrecondition):
            expected_version(bad)


def image_bytes(fmt: str, size: tuple[int, int] = (300, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (1, 2, 3)).save(out, format=fmt)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF"])
def test_decode_accepts_images(fmt: str) -> None:
    decoded = decode(image_bytes(fmt), max_pixels=10**6)
    assert (decoded.format, decoded.width, decoded.height) == (fmt, 300, 200)


def test_decode_refuses_the_rest() -> None:
    for data in (b"hello world", image_bytes("PNG")[:100], image_bytes("BMP")):
        with pytest.raises(NotAnImage):
            decode(data, max_pixels=10**6)
    with pytest.raises(NotAnImage):
        decode(image_bytes("PNG", (2000, 2000)), max_pixels=10**6)


def test_thumbnails_keep_the_ratio_and_never_upscale() -> None:
    with Image.open(io.BytesIO(thumbnail(image_bytes("PNG", (800, 400)), 160))) as t:
        assert t.format == "WEBP"
        assert t.size == (160, 80)
    with Image.open(io.BytesIO(thumbnail(image_bytes("PNG", (100, 50)), 480))) as t:
        assert t.size == (100, 50)


def test_pairs() -> None:
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert sorted(pairs([a, b, a, c])) == sorted([(a, b), (b, a), (a, c), (c, a), (b, c), (c, b)])
    assert pairs([a, a]) == []
    many = [uuid.uuid4() for _ in range(MAX_PRODUCTS_PER_ORDER + 10)]
    assert len(pairs(many)) == MAX_PRODUCTS_PER_ORDER * (MAX_PRODUCTS_PER_ORDER - 1)


def test_attribute_checks() -> None:
    size = AttributeIn(name="size", type="enum", allowed_values=["S", "M"])
    assert problem_with(size, "M") is None
    assert problem_with(size, "XL")
    assert problem_with(AttributeIn(name="n", type="number"), "1.5") is None
    assert problem_with(AttributeIn(name="n", type="number"), "lots")
    assert problem_with(AttributeIn(name="b", type="boolean"), "yes")
    with pytest.raises(ValidationError):
        AttributeIn(name="e", type="enum")
    with pytest.raises(ValidationError):
        AttributeIn(name="t", type="text", allowed_values=["a"])


def test_slugs_and_keys() -> None:
    assert slugify("Men's Shirts & Ties") == "men-s-shirts-ties"
    assert slugify("Ünïcödé") == "unicode"
    assert slugify("!!!") == "x"
    assert str(safe_key("products/a/b.png")) == "products/a/b.png"
    for bad in ("/etc/passwd", "products/../../x", ""):
        with pytest.raises(ValueError, match="not a valid object key"):
            safe_key(bad)


def test_the_local_s3_keys_are_refused_outside_local_and_test(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from services.product.settings import ProductSettings

    for name in ("KOMMERCE_PRODUCT_S3_ACCESS_KEY_ID", "KOMMERCE_PRODUCT_S3_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert ProductSettings(environment="test", image_store="s3").image_store == "s3"
    assert ProductSettings(environment="production").image_store == "local"  # no S3, no keys
    with pytest.raises(ValidationError, match="KOMMERCE_PRODUCT_S3_ACCESS_KEY_ID"):
        ProductSettings(environment="production", image_store="s3")
    real = ProductSettings(
        environment="production",
        image_store="s3",
        s3_access_key_id="AKIAREAL",
        s3_secret_access_key="a-real-secret",
    )
    assert real.s3_access_key_id == "AKIAREAL"
