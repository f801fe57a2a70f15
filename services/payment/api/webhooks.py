"""Provider webhooks: `POST /v1/webhooks/stripe` and `POST /v1/webhooks/paypal`.

The raw body is verified by the provider module (Stripe: `Stripe-Signature` with the endpoint
secret and a timestamp tolerance; PayPal: the verify-webhook-signature API). A delivery that
fails verification is a 400 and nothing is stored; a verified one is applied once
(services/payment/webhooks.py) and answered 200 with what happened.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel

from kommerce.http.errors import DependencyUnavailable, Problem
from kommerce.http.responses import problems
from services.payment import webhooks
from services.payment.api.common import Context
from services.payment.providers.base import InvalidWebhook, ProviderError

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses=problems(400, 422))

MAX_BODY = 512 * 1024


class InvalidWebhookProblem(Problem):
    status, slug, title = 400, "invalid-webhook", "The webhook failed verification"


class WebhookOut(BaseModel):
    event_id: str
    outcome: Literal["applied", "duplicate", "stale", "ignored", "unknown-payment"]


@router.post("/{provider}", response_model=WebhookOut, responses=problems(503))
async def receive(
    provider: Literal["stripe", "paypal"], request: Request, ctx: Context
) -> WebhookOut:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise InvalidWebhookProblem("the body is larger than 512 KiB")
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        event = await ctx.gateway(provider).parse_webhook(body, headers)
    except InvalidWebhook as exc:
        raise InvalidWebhookProblem(str(exc)) from exc
    except ProviderError as exc:  # PayPal's verification API is down: let PayPal retry
        raise DependencyUnavailable(f"could not verify the webhook: {exc.message}") from exc
    async with ctx.db.session() as session:
        outcome = await webhooks.apply(session, ctx.participant, event)
    return WebhookOut(event_id=event.event_id, outcome=outcome)
