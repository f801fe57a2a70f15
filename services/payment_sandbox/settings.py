"""Settings of the payment sandbox (prefix `KOMMERCE_PAYMENT_SANDBOX_`, then the shared names)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from kommerce.settings import ServiceSettings


class PaymentSandboxSettings(ServiceSettings):
    service_name: ClassVar[str] = "payment-sandbox"

    port: int = Field(default=8106, ge=1, le=65535)
    schema_name: str = "payment_sandbox"
    migrate_on_start: bool = True
    pool_size: int = Field(default=5, ge=1)
    # Publish the outbox (the saga replies) from this process.
    relay_enabled: bool = True
    # Apply the saga commands of payment.commands.v1.
    consumer_enabled: bool = True
    consumer_group: str = "payment-sandbox"
