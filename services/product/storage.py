"""Where image bytes live: an `ObjectStore` with a local-filesystem and an S3 implementation.

Keys are relative paths such as `products/<product>/<image>/original.png`. The local store is
the default (files under `image_dir`, served by the service itself); the S3 store talks to any
S3-compatible endpoint with boto3, each blocking call in a worker thread, and creates its
bucket on first use.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

import boto3
from botocore.exceptions import ClientError

from services.product.settings import ProductSettings


class ObjectStore(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes | None: ...

    async def delete(self, key: str) -> None: ...

    def url(self, key: str) -> str: ...


def safe_key(key: str) -> PurePosixPath:
    path = PurePosixPath(key)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ValueError(f"not a valid object key: {key!r}")
    return path


class LocalStore:
    def __init__(self, root: Path, base_url: str) -> None:
        self.root = root
        self.base_url = base_url.rstrip("/")

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*safe_key(key).parts)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_bytes(data)
            tmp.replace(path)

        await asyncio.to_thread(write)

    async def get(self, key: str) -> bytes | None:
        path = self._path(key)
        if not path.is_file():
            return None
        return await asyncio.to_thread(path.read_bytes)

    async def delete(self, key: str) -> None:
        path = self._path(key)
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(path.unlink)

    def url(self, key: str) -> str:
        return f"{self.base_url}/v1/images/{safe_key(key)}"


class S3Store:
    def __init__(
        self,
        *,
        bucket: str,
        endpoint: str | None,
        region: str,
        access_key_id: str,
        secret_access_key: str,
        public_base_url: str | None,
    ) -> None:
        self.bucket = bucket
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
        )
        base = public_base_url or f"{(endpoint or 'https://s3.amazonaws.com').rstrip('/')}/{bucket}"
        self.base_url = base.rstrip("/")
        self._bucket_ready = False
        self._lock = asyncio.Lock()

    async def _ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        async with self._lock:
            if self._bucket_ready:
                return
            try:
                await asyncio.to_thread(self.client.head_bucket, Bucket=self.bucket)
            except ClientError:
                with contextlib.suppress(
                    self.client.exceptions.BucketAlreadyOwnedByYou,
                    self.client.exceptions.BucketAlreadyExists,
                ):
                    await asyncio.to_thread(self.client.create_bucket, Bucket=self.bucket)
            self._bucket_ready = True

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await self._ensure_bucket()
        await asyncio.to_thread(
            self.client.put_object,
            Bucket=self.bucket,
            Key=str(safe_key(key)),
            Body=data,
            ContentType=content_type,
        )

    async def get(self, key: str) -> bytes | None:
        await self._ensure_bucket()
        try:
            response = await asyncio.to_thread(
                self.client.get_object, Bucket=self.bucket, Key=str(safe_key(key))
            )
        except self.client.exceptions.NoSuchKey:
            return None
        body: bytes = await asyncio.to_thread(response["Body"].read)
        return body

    async def delete(self, key: str) -> None:
        await self._ensure_bucket()
        await asyncio.to_thread(
            self.client.delete_object, Bucket=self.bucket, Key=str(safe_key(key))
        )

    def url(self, key: str) -> str:
        return f"{self.base_url}/{safe_key(key)}"


def store_for(settings: ProductSettings) -> ObjectStore:
    if settings.image_store == "s3":
        return S3Store(
            bucket=settings.image_bucket,
            endpoint=str(settings.s3_endpoint) if settings.s3_endpoint else None,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key.get_secret_value(),
            public_base_url=(
                str(settings.image_public_base_url) if settings.image_public_base_url else None
            ),
        )
    return LocalStore(settings.image_dir, str(settings.public_url))
