"""Carrier tracking webhooks (signed, see services/order/tracking.py and docs/order-service.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from kommerce.http.responses import problems
from services.order import tracking
from services.order.api.aftersale_models import CarrierEventIn, CarrierEventOut
from services.order.context import Ctx

router = APIRouter(tags=["carriers"], responses=problems(400, 404, 422))
BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": CarrierEventIn.model_json_schema()}},
    },
    "parameters": [
        {
            "name": tracking.HEADER,
            "in": "header",
            "required": True,
            "schema": {"type": "string"},
            "description": "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, '<t>.<raw body>')>",
        }
    ],
}


@router.post("/v1/carriers/{carrier}/events", response_model=CarrierEventOut, openapi_extra=BODY)
async def carrier_event(
    carrier: Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9_-]*$")],
    request: Request,
    c: Ctx,
) -> CarrierEventOut:
    """A carrier's tracking update. The signature is checked over the raw body before anything
    else (400 invalid-signature); a replayed event id changes nothing (200, applied false); an
    unknown tracking number is a 404."""
    body = await request.body()
    tracking.verify(
        c.settings.carrier_webhook_secret.get_secret_value(),
        body,
        request.headers.get(tracking.HEADER),
        tolerance=c.settings.carrier_webhook_tolerance_seconds,
    )
    try:
        parsed = CarrierEventIn.model_validate_json(body)
    except ValidationError as exc:
        errors = [dict(e) | {"loc": ("body", *e["loc"])} for e in exc.errors()]
        raise RequestValidationError(errors) from exc
    event = tracking.CarrierEvent(
        carrier=carrier,
        event_id=parsed.event_id,
        tracking_number=parsed.tracking_number,
        status=parsed.status,
        occurred_at=parsed.occurred_at,
        location=parsed.location,
        description=parsed.description,
        estimated_delivery=parsed.estimated_delivery,
    )
    async with c.db.session() as session:
        applied = await tracking.apply(session, event)
    return CarrierEventOut(
        applied=not applied.duplicate,
        shipment_status=applied.shipment_status,
        order_status=applied.order_status,
    )
