"""Product images (`/v1/products/{id}/images`) and, for the local store, the files themselves."""

from __future__ import annotations

import asyncio
import mimetypes
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, File, Request, Response, UploadFile

from kommerce.auth.claims import Principal
from kommerce.data.objects import LocalStore
from kommerce.http.errors import NotFound
from kommerce.http.responses import problems
from services.product import images, views
from services.product.context import ProductContext, actor, ctx, writer
from services.product.errors import ImageTooLarge

router = APIRouter(tags=["images"], responses=problems(400, 422))
MULTIPART_OVERHEAD = 64 * 1024


async def _read_limited(request: Request, upload: UploadFile, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
        raise ImageTooLarge(f"images are at most {limit} bytes")
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise ImageTooLarge(f"images are at most {limit} bytes")
    return data


@router.post(
    "/v1/products/{product_id}/images",
    status_code=201,
    response_model=views.ImageOut,
    responses=problems(401, 403, 404, 413, 415),
)
async def upload_image(
    product_id: uuid.UUID,
    request: Request,
    file: Annotated[UploadFile, File(description="JPEG, PNG, WebP or GIF")],
    c: Annotated[ProductContext, Depends(ctx)],
    principal: Annotated[Principal, Depends(writer)],
) -> views.ImageOut:
    """Store the image and its thumbnails; the type is what the bytes decode as."""
    s = c.settings
    data = await _read_limited(request, file, s.image_max_bytes)
    async with c.db.session() as session:
        await views.load(session, product_id)  # 404 before any work
    decoded = await asyncio.to_thread(images.decode, data, max_pixels=s.image_max_pixels)
    thumbs = {
        str(w): await asyncio.to_thread(images.thumbnail, data, w) for w in s.thumbnail_widths
    }
    image_id = uuid.uuid4()
    keys = images.keys_for(product_id, image_id, decoded, s.thumbnail_widths)
    await c.store.put(keys["original"], data, decoded.content_type)
    for width, thumb in thumbs.items():
        await c.store.put(keys[width], thumb, "image/webp")
    try:
        async with c.db.session() as session:
            listed = await images.attach(
                session,
                product_id,
                image_id=image_id,
                decoded=decoded,
                size=len(data),
                keys=keys,
                store=c.store,
                actor=actor(principal),
            )
    except BaseException:
        await images.remove_objects(c.store, list(keys.values()))
        raise
    return views.ImageOut.model_validate(listed)


@router.get(
    "/v1/products/{product_id}/images",
    response_model=list[views.ImageOut],
    responses=problems(404),
)
async def list_images(
    product_id: uuid.UUID, c: Annotated[ProductContext, Depends(ctx)]
) -> list[views.ImageOut]:
    async with c.db.session() as session:
        return (await views.load(session, product_id)).images


@router.delete(
    "/v1/products/{product_id}/images/{image_id}",
    status_code=204,
    responses=problems(401, 403, 404, 409),
)
async def delete_image(
    product_id: uuid.UUID,
    image_id: uuid.UUID,
    c: Annotated[ProductContext, Depends(ctx)],
    principal: Annotated[Principal, Depends(writer)],
) -> Response:
    async with c.db.session() as session:
        keys = await images.detach(session, product_id, image_id, actor=actor(principal))
    await images.remove_objects(c.store, keys)
    return Response(status_code=204)


@router.get(
    "/v1/images/{key:path}",
    responses={
        200: {"content": {"image/*": {"schema": {"type": "string", "format": "binary"}}}},
        **problems(404),
    },
)
async def image_file(key: str, c: Annotated[ProductContext, Depends(ctx)]) -> Response:
    """An image file of the local store (with the S3 store, image URLs point at the bucket)."""
    if not isinstance(c.store, LocalStore) or not key.startswith("products/"):
        raise NotFound("no such image")
    try:
        data = await c.store.get(key)
    except ValueError:
        data = None
    if data is None:
        raise NotFound("no such image")
    content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
    return Response(
        data,
        media_type=content_type,
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )
