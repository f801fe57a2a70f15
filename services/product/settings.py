"""Settings of the product service (`KOMMERCE_PRODUCT_`, then the shared `KOMMERCE_` names)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import AnyHttpUrl, Field, model_validator

from kommerce.paths import state_dir
from kommerce.settings import ServiceSettings


class ProductSettings(ServiceSettings):
    service_name: ClassVar[str] = "product"

    port: int = Field(default=8102, ge=1, le=65535)
    schema_name: str = "catalog"
    migrate_on_start: bool = True
    # Publish the outbox from this process (kommerce.events.relay); needs KOMMERCE_KAFKA_BOOTSTRAP.
    relay_enabled: bool = True
    # Count products bought together from `order.placed` (for related products); needs Kafka.
    co_occurrence_enabled: bool = True
    public_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8102")

    # Images: `local` keeps files under image_dir (served by this service at /v1/images/...),
    # `s3` puts them in image_bucket at KOMMERCE_S3_ENDPOINT (or AWS when unset), with the S3
    # region and keys of the shared settings (KOMMERCE_PRODUCT_S3_* overrides KOMMERCE_S3_*).
    image_store: Literal["local", "s3"] = "local"
    image_dir: Path = Field(default_factory=lambda: state_dir() / "product-images")
    image_bucket: str = "kommerce-product-images"
    image_public_base_url: AnyHttpUrl | None = None  # e.g. a CDN in front of the bucket
    image_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    image_max_pixels: int = Field(default=40_000_000, ge=10_000)  # decompression bombs
    thumbnail_widths: tuple[int, ...] = (160, 480)

    related_limit: int = Field(default=10, ge=1, le=100)

    @model_validator(mode="after")
    def _real_s3_keys_outside_dev(self) -> ProductSettings:
        local_keys = self.uses_local_s3_keys()
        if self.image_store == "s3" and local_keys and self.environment not in ("local", "test"):
            raise ValueError(
                "image_store=s3 outside local/test needs KOMMERCE_PRODUCT_S3_ACCESS_KEY_ID and "
                "KOMMERCE_PRODUCT_S3_SECRET_ACCESS_KEY (the local stack's keys are refused)"
            )
        return self
