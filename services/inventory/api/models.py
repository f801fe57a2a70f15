"""Request and response bodies of the inventory API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kommerce.money import Money
from services.inventory.adjustments import REASONS, sign_error

NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL
Code = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=NO_NUL)]
Quantity = Annotated[int, Field(ge=1, le=1_000_000)]
Level = Annotated[int, Field(ge=0, le=1_000_000_000)]
Reason = Literal[
    "received", "returned", "damaged", "lost", "expired_goods", "correction", "cycle_count"
]
assert set(Reason.__args__) == REASONS  # type: ignore[attr-defined]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Location(Strict):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class WarehouseIn(Strict):
    code: Code
    name: Name
    location: Location
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")


class WarehouseUpdate(Strict):
    name: Name
    location: Location
    country: str = Field(pattern=r"^[A-Z]{2}$")


class WarehouseOut(BaseModel):
    id: uuid.UUID
    code: str
    name: str
    location: Location
    country: str


class AdjustmentIn(Strict):
    variant_id: uuid.UUID
    warehouse_code: Code
    delta: int = Field(ge=-1_000_000_000, le=1_000_000_000, description="change of on_hand")
    reason: Reason
    note: str = Field(default="", max_length=500, pattern=NO_NUL)

    @model_validator(mode="after")
    def _sign_fits_reason(self) -> AdjustmentIn:
        if (error := sign_error(self.reason, self.delta)) is not None:
            raise ValueError(error)
        return self


class WarehouseLevel(BaseModel):
    warehouse_code: str
    on_hand: int
    reserved: int
    available: int
    reorder_point: int | None = None
    target_level: int | None = None
    low_stock: bool = False


class StockOut(BaseModel):
    variant_id: uuid.UUID
    sku: str | None
    product_id: uuid.UUID | None
    version: int
    on_hand: int
    reserved: int
    available: int
    warehouses: list[WarehouseLevel]


class ReorderPointIn(Strict):
    reorder_point: Level | None = Field(description="alert when available drops below this")
    target_level: Level | None = Field(default=None, description="order up to this level")


class LineIn(Strict):
    variant_id: uuid.UUID
    quantity: Quantity


class ReservationIn(Strict):
    key: str = Field(
        min_length=1, max_length=200, pattern=NO_NUL, description="checkout or order id"
    )
    lines: list[LineIn] = Field(min_length=1, max_length=100)
    ttl_seconds: int | None = Field(default=None, ge=1, le=86_400)
    strategy: Literal["nearest", "most_stock"] | None = None
    ship_to: Location | None = None
    preferred_warehouse: Code | None = None
    allow_split: bool = True


class AllocationOut(BaseModel):
    variant_id: uuid.UUID
    warehouse_code: str
    quantity: int


class ReservationOut(BaseModel):
    id: uuid.UUID
    key: str
    status: Literal["active", "confirmed", "released", "expired"]
    strategy: str
    expires_at: datetime
    created_at: datetime
    allocations: list[AllocationOut]


class AvailabilityOut(BaseModel):
    variant_id: uuid.UUID
    available: int
    version: int
    source: Literal["cache", "database"]


class SupplierIn(Strict):
    name: Name
    lead_time_days: int = Field(ge=0, le=365)


class SupplierVariantIn(Strict):
    cost: Money


class SupplierVariantOut(BaseModel):
    variant_id: uuid.UUID
    cost: Money


class SupplierOut(BaseModel):
    id: uuid.UUID
    name: str
    lead_time_days: int
    variants: list[SupplierVariantOut] = []


class SuggestionOut(BaseModel):
    variant_id: uuid.UUID
    sku: str | None
    warehouse_code: str
    available: int
    reorder_point: int
    target_level: int
    velocity_per_day: float
    lead_time_days: int
    quantity: int
    supplier_id: uuid.UUID | None
    supplier_name: str | None
    unit_cost: Money | None


class Amount(BaseModel):
    """A sum of money in minor units (may exceed what a single price can be)."""

    amount: int
    currency: str


class ValueLineOut(BaseModel):
    warehouse_code: str
    value: Amount
    units: int


class StockValueOut(BaseModel):
    basis: Literal["price", "cost"]
    by_warehouse: list[ValueLineOut]
    totals: list[ValueLineOut]
    unvalued_units: int = Field(description="units on hand whose variant has no price/cost")


class MovementGroupOut(BaseModel):
    day: str
    reason: str
    movements: int
    delta_on_hand: int
    delta_reserved: int


class MovementsReportOut(BaseModel):
    since: datetime
    until: datetime
    groups: list[MovementGroupOut]


class MovementOut(BaseModel):
    id: int
    at: datetime
    actor: str
    variant_id: uuid.UUID
    warehouse_code: str
    reason: str
    delta_on_hand: int
    delta_reserved: int
    on_hand_after: int
    reserved_after: int
    reservation_id: uuid.UUID | None
    note: str


class MovementPage(BaseModel):
    items: list[MovementOut]
    next_cursor: int | None


class LowStockOut(BaseModel):
    variant_id: uuid.UUID
    sku: str | None
    warehouse_code: str
    available: int
    reorder_point: int
