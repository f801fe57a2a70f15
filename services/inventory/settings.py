"""Settings of the inventory service (prefix `KOMMERCE_INVENTORY_`, then the shared names)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from kommerce.settings import ServiceSettings

Strategy = Literal["nearest", "most_stock"]


class InventorySettings(ServiceSettings):
    service_name: ClassVar[str] = "inventory"

    port: int = Field(default=8103, ge=1, le=65535)
    schema_name: str = "inventory"
    migrate_on_start: bool = True
    # Publish the outbox from this process (one relay per schema holds an advisory lock).
    relay_enabled: bool = True
    # Consume product.* (variants) and our own inventory.stock_changed (the ATS cache).
    consumer_enabled: bool = True
    consumer_group: str = "inventory"
    # Apply saga commands (inventory.commands.v1: reserve/release/commit/restock) and reply.
    participant_enabled: bool = True
    # Return the stock of expired reservations in the background every this many seconds.
    sweeper_enabled: bool = True
    sweep_interval_seconds: float = Field(default=1.0, gt=0)
    default_reservation_ttl_seconds: int = Field(default=900, ge=1, le=86_400)
    default_strategy: Strategy = "nearest"
    # Available-to-sell entries in Redis expire after this long (events refresh them).
    ats_cache_seconds: int = Field(default=3600, ge=1)
    # Sales velocity for purchase suggestions: shipped units per day over this many days.
    velocity_days: int = Field(default=28, ge=1, le=365)
    pool_size: int = Field(default=10, ge=1)
