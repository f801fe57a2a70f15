"""What every part of the payment service needs, built once by the app (`app.state.payment`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Request
from redis.asyncio import Redis

from kommerce.data.db import Database
from kommerce.data.redis_idempotency import RedisIdempotency
from kommerce.http.errors import Problem
from services.payment.fraud import FraudScorer
from services.payment.gateway import Gateway
from services.payment.settings import PaymentSettings

if TYPE_CHECKING:
    from services.payment.participant import PaymentParticipant


class ProviderNotConfigured(Problem):
    status, slug, title = 422, "provider-not-configured", "Payment provider not configured"


@dataclass
class PaymentContext:
    settings: PaymentSettings
    db: Database
    gateways: dict[str, Gateway]
    fraud: FraudScorer
    redis: Redis[Any]
    idempotency: RedisIdempotency
    participant: PaymentParticipant = field(init=False)

    def __post_init__(self) -> None:
        from services.payment.participant import PaymentParticipant

        self.participant = PaymentParticipant(self)

    def gateway(self, provider: str) -> Gateway:
        found = self.gateways.get(provider)
        if found is None:
            raise ProviderNotConfigured(
                f"provider {provider!r} is not configured here (configured: "
                f"{', '.join(sorted(self.gateways)) or 'none'})"
            )
        return found


def context(request: Request) -> PaymentContext:
    ctx: PaymentContext = request.app.state.payment
    return ctx
