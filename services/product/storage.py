"""Where image bytes live: the core object store (`kommerce.data.objects`) the settings choose.

Keys are relative paths such as `products/<product>/<image>/original.png`. The local store is
the default (files under `image_dir`, served by the service itself at `/v1/images/<key>`); the
S3 store puts them in `image_bucket` at any S3-compatible endpoint.
"""

from __future__ import annotations

from kommerce.data.objects import LocalStore, ObjectStore, s3_store
from services.product.settings import ProductSettings


def store_for(settings: ProductSettings) -> ObjectStore:
    if settings.image_store == "s3":
        public = settings.image_public_base_url
        return s3_store(
            settings, bucket=settings.image_bucket, public_base_url=str(public) if public else None
        )
    return LocalStore(settings.image_dir, f"{str(settings.public_url).rstrip('/')}/v1/images")
