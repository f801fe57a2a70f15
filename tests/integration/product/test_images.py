"""Images on the stack's S3 endpoint: thumbnails, size and type validation, list and delete."""

from __future__ import annotations

import io

import boto3
import httpx
import pytest
from PIL import Image

from services.product.app import create_app
from services.product.settings import ProductSettings
from tests.integration.product.conftest import IMAGE_LIMIT, Running, create_product, png
from tests.tokens import TokenMinter

pytestmark = pytest.mark.integration


def s3(settings: ProductSettings) -> object:
    return boto3.client(
        "s3",
        endpoint_url=str(settings.s3_endpoint),
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key_id,
        aws_secret_access_key=settings.s3_secret_access_key.get_secret_value(),
    )


async def test_upload_list_delete(
    product_service: Running,
    product_settings: ProductSettings,
    client: httpx.AsyncClient,
    merchant: dict[str, str],
) -> None:
    product = await create_product(client, merchant)
    url = f"/v1/products/{product['id']}/images"
    files = {"file": ("photo.bin", png(1200, 600), "application/octet-stream")}
    r = await client.post(url, files=files, headers=merchant)
    assert r.status_code == 201, r.text
    image = r.json()
    assert (image["content_type"], image["width"], image["height"]) == ("image/png", 1200, 600)
    assert set(image["thumbnails"]) == {"160", "480"}

    bucket = product_settings.image_bucket
    client_s3 = s3(product_settings)
    key = image["thumbnails"]["480"].split(f"/{bucket}/", 1)[1]
    body = client_s3.get_object(Bucket=bucket, Key=key)["Body"].read()  # type: ignore[attr-defined]
    with Image.open(io.BytesIO(body)) as thumb:
        assert thumb.format == "WEBP"
        assert thumb.size == (480, 240)

    listed = (await client.get(url)).json()
    assert [i["id"] for i in listed] == [image["id"]]
    document = (await client.get(f"/v1/products/{product['id']}")).json()
    assert document["images"][0]["url"] == image["url"]
    assert document["version"] == 2

    r = await client.delete(f"{url}/{image['id']}", headers=merchant)
    assert r.status_code == 204
    assert (await client.get(url)).json() == []
    objects = client_s3.list_objects_v2(  # type: ignore[attr-defined]
        Bucket=bucket, Prefix=f"products/{product['id']}/"
    )
    assert objects.get("KeyCount", 0) == 0
    assert (await client.delete(f"{url}/{image['id']}", headers=merchant)).status_code == 404


async def test_oversized_upload_is_413(client: httpx.AsyncClient, merchant: dict[str, str]) -> None:
    product = await create_product(client, merchant)
    big = b"\x89PNG" + b"\0" * (IMAGE_LIMIT + 1)
    r = await client.post(
        f"/v1/products/{product['id']}/images",
        files={"file": ("big.png", big, "image/png")},
        headers=merchant,
    )
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    "content",
    [b"just some text, honestly\n" * 20, png()[:200], b"GIF89a" + b"garbage" * 10],
    ids=["text-renamed", "truncated-png", "fake-gif-header"],
)
async def test_non_images_are_refused(
    client: httpx.AsyncClient, merchant: dict[str, str], content: bytes
) -> None:
    product = await create_product(client, merchant)
    r = await client.post(
        f"/v1/products/{product['id']}/images",
        files={"file": ("holiday.jpg", content, "image/jpeg")},
        headers=merchant,
    )
    assert r.status_code == 415, r.text
    assert r.json()["type"].endswith("/not-an-image")


async def test_upload_needs_catalog_write(
    client: httpx.AsyncClient, customer: dict[str, str], merchant: dict[str, str]
) -> None:
    product = await create_product(client, merchant)
    r = await client.post(
        f"/v1/products/{product['id']}/images",
        files={"file": ("a.png", png(), "image/png")},
        headers=customer,
    )
    assert r.status_code == 403


async def test_local_store_serves_its_files(
    product_service: Running, product_settings: ProductSettings, minter: TokenMinter
) -> None:
    """The default store: files under image_dir, served by the service at /v1/images/..."""
    local = product_settings.model_copy(
        update={
            "image_store": "local",
            "relay_enabled": False,
            "co_occurrence_enabled": False,
            "migrate_on_start": False,
        }
    )
    app = create_app(local, auth=minter.authenticator())
    merchant = minter.bearer(roles=["merchant"])
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=str(local.public_url)
        ) as client,
    ):
        product = await create_product(client, merchant)
        r = await client.post(
            f"/v1/products/{product['id']}/images",
            files={"file": ("x", png(300, 300, "JPEG"), "text/plain")},
            headers=merchant,
        )
        assert r.status_code == 201, r.text
        image = r.json()
        assert image["content_type"] == "image/jpeg"
        original = await client.get(image["url"])
        assert original.status_code == 200
        assert original.headers["content-type"] == "image/jpeg"
        assert (await client.get(image["thumbnails"]["160"])).headers["content-type"] == (
            "image/webp"
        )
        assert (local.image_dir / "products" / product["id"]).is_dir()
        assert (await client.get("/v1/images/products/../../etc/passwd")).status_code == 404
        assert (await client.get("/v1/images/products/nothing.png")).status_code == 404
