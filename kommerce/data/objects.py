"""Object storage: an `ObjectStore` with a local-filesystem and an S3 implementation.

Keys are relative paths such as `products/<product>/<image>/original.png` or
`invoices/<order>/INV-000001.pdf` (`safe_key` refuses absolute paths and `..`). The S3 store
talks to any S3-compatible endpoint (the local stack's is a moto server) with boto3, each
blocking call in a worker thread, and creates its bucket on first use. `s3_store(settings, ...)`
builds one from the shared settings (`KOMMERCE_S3_ENDPOINT`, `S3_REGION`, `S3_ACCESS_KEY_ID`,
`S3_SECRET_ACCESS_KEY`, each overridable per service). Used by the product service (images) and
the order service (invoices and credit notes).
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

import boto3
from botocore.exceptions import ClientError

from kommerce.settings import KommerceSettings


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
    """Files under `root`; `url(key)` is `<base_url>/<key>` (whoever serves the files)."""

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
        return f"{self.base_url}/{safe_key(key)}"


class S3Store:
    def __init__(
        self,
        *,
        bucket: str,
        endpoint: str | None,
        region: str,
        access_key_id: str,
        secret_access_key: str,
        public_base_url: str | None = None,
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


def s3_store(
    settings: KommerceSettings, *, bucket: str, public_base_url: str | None = None
) -> S3Store:
    """An S3 store for `bucket` at the settings' endpoint (AWS when unset) with their keys."""
    return S3Store(
        bucket=bucket,
        endpoint=str(settings.s3_endpoint) if settings.s3_endpoint else None,
        region=settings.s3_region,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=settings.s3_secret_access_key.get_secret_value(),
        public_base_url=public_base_url,
    )
