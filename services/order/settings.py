"""Settings of the order service (prefix `KOMMERCE_ORDER_`, then the shared `KOMMERCE_` names)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import AnyHttpUrl, Field, SecretStr, model_validator

from kommerce.settings import ServiceSettings


class OrderSettings(ServiceSettings):
    service_name: ClassVar[str] = "order"

    port: int = Field(default=8105, ge=1, le=65535)
    schema_name: str = "orders"
    migrate_on_start: bool = True
    pool_size: int = Field(default=10, ge=1)
    # Publish the outbox from this process (one relay per schema holds an advisory lock).
    relay_enabled: bool = True
    # Consume product.* (the price/catalog projection), saga replies and order.* (read model).
    consumer_enabled: bool = True
    consumer_group: str = "order"

    # --- cart -------------------------------------------------------------------------------
    # A cart expires this long after its last read or write (sliding expiry).
    cart_ttl_seconds: int = Field(default=7 * 86_400, ge=60)
    cart_max_lines: int = Field(default=100, ge=1, le=1000)
    cart_max_quantity: int = Field(default=99, ge=1, le=10_000)
    # where carts read available-to-sell (the inventory service's public availability API)
    inventory_url: AnyHttpUrl | None = None
    availability_timeout_seconds: float = Field(default=2.0, gt=0)

    # --- checkout saga ----------------------------------------------------------------------
    # How long each saga step may take before it is re-sent (retries) and then compensated.
    reserve_timeout_seconds: float = Field(default=30.0, gt=0)
    payment_timeout_seconds: float = Field(default=60.0, gt=0)
    step_retries: int = Field(default=2, ge=0, le=10)
    saga_timeout_check_seconds: float = Field(default=1.0, gt=0)
    # Stock is held this long for a checkout; the saga confirms it well before.
    reservation_ttl_seconds: int = Field(default=900, ge=60)
    # GET /v1/orders/{id}/events: how long one stream lasts and how often it looks for changes.
    order_stream_seconds: float = Field(default=120.0, gt=0)
    order_stream_poll_seconds: float = Field(default=0.25, gt=0)
    # Idempotency keys (and their stored responses) are kept this long.
    idempotency_ttl_seconds: int = Field(default=86_400, ge=60)

    # --- after the sale ---------------------------------------------------------------------
    # Carrier webhooks are signed with this secret (HMAC-SHA256, docs/order-service.md).
    carrier_webhook_secret: SecretStr = SecretStr("local-carrier-webhook-secret")
    carrier_webhook_tolerance_seconds: int = Field(default=300, ge=1)
    return_window_days: int = Field(default=30, ge=0)
    # Invoices and credit notes go to this S3 bucket (KOMMERCE_S3_ENDPOINT and the shared S3
    # region/keys, KOMMERCE_ORDER_S3_* to override); the bucket is created if missing.
    invoice_bucket: str = "kommerce-invoices"
    # Issue the invoices of newly paid orders in the background, this often (invoicing.py).
    invoicing_enabled: bool = True
    invoice_interval_seconds: float = Field(default=2.0, gt=0)
    seller_name: str = "Kommerce Demo Store"
    seller_address: str = "1 Market Street, 10115 Berlin, Germany"
    seller_tax_id: str = "DE000000000"
    # A Unicode TrueType font for the PDFs (and its bold face); unset: DejaVu Sans from the
    # system (Debian `fonts-dejavu-core`), see services/order/documents/render.py.
    invoice_font: Path | None = None
    invoice_font_bold: Path | None = None

    @model_validator(mode="after")
    def _real_s3_keys_outside_dev(self) -> OrderSettings:
        if self.uses_local_s3_keys() and self.environment not in ("local", "test"):
            raise ValueError(
                "invoices go to S3: outside local/test set KOMMERCE_ORDER_S3_ACCESS_KEY_ID and "
                "KOMMERCE_ORDER_S3_SECRET_ACCESS_KEY (the local stack's keys are refused)"
            )
        return self
