"""Request and response bodies after the sale: fulfilment, tracking, history, returns, refunds."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL
SOME_TEXT = r"^[^\x00]*[^\s\x00][^\x00]*$"  # at least one visible character, no NUL
MAX_MINOR = 2**53 - 1
Note = Annotated[str, Field(max_length=1000, pattern=NO_NUL)]
Reason = Annotated[str, Field(min_length=1, max_length=1000, pattern=SOME_TEXT)]
Carrier = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
TrackingNumber = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Moved(BaseModel):
    """An order after a status change."""

    order_id: uuid.UUID
    number: str
    status: str
    version: int
    estimated_delivery: date | None = None


def moved(row: dict[str, Any]) -> Moved:
    return Moved(
        order_id=row["id"],
        number=row["number"],
        status=row["status"],
        version=row["version"],
        estimated_delivery=row.get("estimated_delivery"),
    )


class CancelIn(Strict):
    reason: Note = ""


class ShipmentIn(Strict):
    carrier: Carrier
    tracking_number: TrackingNumber
    tracking_url: Annotated[str, Field(max_length=500, pattern=r"^https://[^\s\x00]+$")] | None = (
        None
    )
    estimated_delivery: date | None = Field(
        default=None,
        description="the carrier's estimate; without it the shipping method's max_days count",
    )


class TrackingEventOut(BaseModel):
    event_id: str
    status: str
    occurred_at: datetime
    location: str
    description: str


class ShipmentOut(BaseModel):
    id: uuid.UUID
    order_id: uuid.UUID
    carrier: str
    tracking_number: str
    tracking_url: str | None
    status: str
    estimated_delivery: date | None
    shipped_at: datetime | None
    delivered_at: datetime | None
    events: list[TrackingEventOut] = []


def shipment_out(s: dict[str, Any]) -> ShipmentOut:
    return ShipmentOut(
        id=s["id"],
        order_id=s["order_id"],
        carrier=s["carrier"],
        tracking_number=s["tracking_number"],
        tracking_url=s["tracking_url"],
        status=s["status"],
        estimated_delivery=s["estimated_delivery"],
        shipped_at=s["shipped_at"],
        delivered_at=s["delivered_at"],
        events=[
            TrackingEventOut(
                event_id=e["carrier_event_id"],
                status=e["status"],
                occurred_at=e["occurred_at"],
                location=e["location"],
                description=e["description"],
            )
            for e in s.get("events", [])
        ],
    )


class ShippedOut(Moved):
    shipment: ShipmentOut


class TrackingOut(BaseModel):
    order_id: uuid.UUID
    status: str
    estimated_delivery: date | None
    shipments: list[ShipmentOut]


class HistoryEntry(BaseModel):
    at: datetime
    from_status: str | None
    to_status: str
    actor: str
    reason: str


class HistoryOut(BaseModel):
    order_id: uuid.UUID
    status: str
    history: list[HistoryEntry]


class CarrierEventIn(Strict):
    event_id: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[!-~]+$")]
    tracking_number: TrackingNumber
    status: Literal["label_created", "in_transit", "out_for_delivery", "delivered", "exception"]
    occurred_at: datetime
    location: Annotated[str, Field(max_length=200, pattern=NO_NUL)] = ""
    description: Annotated[str, Field(max_length=1000, pattern=NO_NUL)] = ""
    estimated_delivery: date | None = None

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("occurred_at needs a time zone (e.g. 2026-11-28T10:00:00Z)")
        return value


class CarrierEventOut(BaseModel):
    applied: bool = Field(description="false: this event id was received before, nothing changed")
    shipment_status: str
    order_status: str


class MyOrder(BaseModel):
    order_id: uuid.UUID
    number: str
    status: str
    currency: str
    total_minor: int
    refunded_minor: int
    item_count: int
    placed_at: datetime
    estimated_delivery: date | None
    lines: list[dict[str, Any]]
    tracking: dict[str, Any] | None


class MyOrdersOut(BaseModel):
    orders: list[MyOrder]
    next_cursor: str | None = Field(description="pass as `cursor` for the next (older) page")


class ReturnLineIn(Strict):
    line_no: int = Field(ge=1, le=10_000)
    quantity: int = Field(ge=1, le=10_000)
    reason: Note = ""


class ReturnIn(Strict):
    reason: Reason
    lines: list[ReturnLineIn] = Field(min_length=1, max_length=100)

    @field_validator("lines")
    @classmethod
    def _distinct(cls, value: list[ReturnLineIn]) -> list[ReturnLineIn]:
        if len({line.line_no for line in value}) != len(value):
            raise ValueError("each line_no may appear once")
        return value


class DecisionIn(Strict):
    note: Note = ""


class ReturnLineOut(BaseModel):
    line_no: int
    quantity: int
    reason: str


class ReturnOut(BaseModel):
    id: uuid.UUID
    order_id: uuid.UUID
    status: str
    reason: str
    note: str
    requested_by: str
    decided_by: str | None
    refund_minor: int | None
    saga_id: uuid.UUID | None
    created_at: datetime
    lines: list[ReturnLineOut]


def return_out(r: dict[str, Any]) -> ReturnOut:
    return ReturnOut(
        id=r["id"],
        order_id=r["order_id"],
        status=r["status"],
        reason=r["reason"],
        note=r["note"],
        requested_by=r["requested_by"],
        decided_by=r["decided_by"],
        refund_minor=r["refund_minor"],
        saga_id=r["saga_id"],
        created_at=r["created_at"],
        lines=[
            ReturnLineOut(line_no=x["line_no"], quantity=x["quantity"], reason=x["reason"])
            for x in r["lines"]
        ],
    )


class RefundIn(Strict):
    amount_minor: int = Field(gt=0, le=MAX_MINOR)
    reason: Reason


class RefundOut(BaseModel):
    id: uuid.UUID
    order_id: uuid.UUID
    return_id: uuid.UUID | None
    amount_minor: int
    currency: str
    status: Literal["pending", "succeeded", "failed"]
    reason: str
    requested_by: str
    saga_id: uuid.UUID | None
    provider_refund_id: str | None = None


def refund_out(r: dict[str, Any]) -> RefundOut:
    return RefundOut(
        id=r["id"],
        order_id=r["order_id"],
        return_id=r.get("return_id"),
        amount_minor=r["amount_minor"],
        currency=r["currency"],
        status=r["status"],
        reason=r["reason"],
        requested_by=r["requested_by"],
        saga_id=r.get("saga_id"),
        provider_refund_id=r.get("provider_refund_id"),
    )
