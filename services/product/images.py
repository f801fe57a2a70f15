"""Product images: decode to validate, thumbnail, store, and list in the product document.

The type is what Pillow decodes the bytes as (JPEG, PNG, WebP or GIF), never the file name or
the declared Content-Type, so a renamed text file is refused. The original is stored as uploaded
and a WebP thumbnail per configured width (never upscaled). Adding or removing an image is a new
product version (`product.changed` carries the image URLs).
"""

from __future__ import annotations

import contextlib
import io
import uuid
import warnings
from dataclasses import dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.data.objects import ObjectStore
from kommerce.http.errors import NotFound
from services.product import catalog
from services.product.errors import NotAnImage
from services.product.tables import IMAGES, PRODUCTS

FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif"}


@dataclass(frozen=True)
class Decoded:
    format: str
    width: int
    height: int

    @property
    def content_type(self) -> str:
        return FORMATS[self.format]


def decode(data: bytes, *, max_pixels: int) -> Decoded:
    """What the bytes are, if they are a whole image in a supported format (else NotAnImage)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                fmt, (width, height) = probe.format or "", probe.size
                if fmt not in FORMATS:
                    raise NotAnImage(f"{fmt or 'this'} format is not accepted; use JPEG, PNG, WebP")
                if width * height > max_pixels:
                    raise NotAnImage(f"{width}x{height} is more than {max_pixels} pixels")
                probe.verify()
            with Image.open(io.BytesIO(data)) as full:
                full.load()  # verify() checks structure; load() decodes every pixel
    except NotAnImage:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Warning) as exc:
        raise NotAnImage(f"the upload is not a readable image: {exc}") from exc
    except Image.DecompressionBombError as exc:
        raise NotAnImage(str(exc)) from exc
    return Decoded(fmt, width, height)


def thumbnail(data: bytes, width: int) -> bytes:
    """A WebP at most `width` pixels wide, aspect ratio kept."""
    with Image.open(io.BytesIO(data)) as image:
        image.seek(0)
        frame = image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB")
        if frame.width > width:
            height = max(1, round(frame.height * width / frame.width))
            frame = frame.resize((width, height), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        frame.save(out, format="WEBP", quality=82, method=4)
        return out.getvalue()


def keys_for(
    product_id: uuid.UUID, image_id: uuid.UUID, decoded: Decoded, widths: tuple[int, ...]
) -> dict[str, str]:
    base = f"products/{product_id}/{image_id}"
    keys = {"original": f"{base}/original.{EXTENSIONS[decoded.format]}"}
    keys.update({str(w): f"{base}/w{w}.webp" for w in widths})
    return keys


def entry(
    store: ObjectStore, image_id: uuid.UUID, decoded: Decoded, size: int, keys: dict[str, str]
) -> dict[str, Any]:
    """The image as the product document lists it (see views.ImageOut)."""
    return {
        "id": str(image_id),
        "url": store.url(keys["original"]),
        "content_type": decoded.content_type,
        "width": decoded.width,
        "height": decoded.height,
        "size_bytes": size,
        "thumbnails": {w: store.url(k) for w, k in keys.items() if w != "original"},
    }


async def attach(
    session: AsyncSession,
    product_id: uuid.UUID,
    *,
    image_id: uuid.UUID,
    decoded: Decoded,
    size: int,
    keys: dict[str, str],
    store: ObjectStore,
    actor: str,
) -> dict[str, Any]:
    """Record a stored image on the product (a new version, `product.changed`)."""
    current = await catalog.lock_version(session, product_id, None)
    position = (
        await session.execute(
            select(func.count()).select_from(IMAGES).where(IMAGES.c.product_id == product_id)
        )
    ).scalar_one()
    await session.execute(
        insert(IMAGES).values(
            id=image_id,
            product_id=product_id,
            content_type=decoded.content_type,
            width=decoded.width,
            height=decoded.height,
            size_bytes=size,
            keys=keys,
            position=position,
        )
    )
    listed = entry(store, image_id, decoded, size, keys)
    document = dict(current.document)
    document["images"] = [*document.get("images", []), listed]
    await session.execute(
        update(PRODUCTS).where(PRODUCTS.c.id == product_id).values(document=document)
    )
    await catalog.touch(session, product_id, actor=actor)
    return listed


async def detach(
    session: AsyncSession, product_id: uuid.UUID, image_id: uuid.UUID, *, actor: str
) -> list[str]:
    """Remove the image from the product; the keys to delete from the store after commit."""
    current = await catalog.lock_version(session, product_id, None)
    keys: dict[str, str] | None = (
        await session.execute(
            delete(IMAGES)
            .where(IMAGES.c.id == image_id, IMAGES.c.product_id == product_id)
            .returning(IMAGES.c["keys"])
        )
    ).scalar_one_or_none()
    if keys is None:
        raise NotFound(f"product {product_id} has no image {image_id}")
    document = dict(current.document)
    document["images"] = [i for i in document.get("images", []) if i["id"] != str(image_id)]
    await session.execute(
        update(PRODUCTS).where(PRODUCTS.c.id == product_id).values(document=document)
    )
    await catalog.touch(session, product_id, actor=actor)
    return list(keys.values())


async def remove_objects(store: ObjectStore, keys: list[str]) -> None:
    for key in keys:
        with contextlib.suppress(Exception):
            await store.delete(key)
