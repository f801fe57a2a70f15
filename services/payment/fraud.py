"""Fraud scoring before authorization: a rules engine now, an ML scorer later.

Anything that implements `FraudScorer` can judge a payment; the service asks one scorer (the
`RulesEngine`) before it calls the provider, and stores the verdict on the payment
(`fraud_decision`, `fraud_score`, `fraud_reasons`). The engine is a list of scorers — its rules,
plus any extra ones (the ML fraud service, when it exists, is one more scorer in the list) —
combined as follows:

- decision: the worst of the rules' decisions (block > review > allow);
- score: the rules' scores combined as independent probabilities ("noisy OR"),
  `100 - round(100 * Π (1 - s_i / 100))`: one rule at 100 makes 100, two rules at 50 make 75,
  all at 0 make 0, and adding a rule never lowers the score;
- reasons: every rule's reasons, in rule order.

Each rule scores on the same bands, so scores from different rules compare: 0-49 allow
(growing towards the review threshold), 50-99 review (growing towards the block threshold),
100 block.

The rules (thresholds from `PaymentSettings.fraud_*`):

- velocity: the customer's payments created within the last `fraud_velocity_window_seconds`
  (the rows existing when the scorer runs — score before the payment is created) at or above
  `fraud_velocity_review` → review, at or above `fraud_velocity_block` → block. Guests (no
  customer id) are not counted together: the rule does not apply to them.
- amount: the amount in the settlement currency at or above `fraud_review_amount_minor` →
  review, at or above `fraud_block_amount_minor` → block.
- country mismatch: the card's issuing country, or the IP's country, differs from the billing
  country (the shipping country when there is no billing address) → review; unknown countries
  are not compared.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction
from typing import Literal, Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.money import Money
from services.payment.settings import PaymentSettings
from services.payment.tables import PAYMENTS

Decision = Literal["allow", "review", "block"]
_SEVERITY: dict[Decision, int] = {"allow": 0, "review": 1, "block": 2}
REVIEW_SCORE = 50
BLOCK_SCORE = 100


@dataclass(frozen=True)
class FraudInput:
    customer_id: str
    amount: Money  # presentment
    settlement_amount_minor: int  # in settings.settlement_currency
    billing_country: str | None
    card_country: str | None  # from the saved payment method, if known
    ip_country: str | None
    shipping_country: str | None


@dataclass(frozen=True)
class FraudVerdict:
    decision: Decision
    score: int  # 0..100
    reasons: tuple[str, ...]  # machine-readable: "velocity:6/600s", "amount:over-review-limit"


ALLOW = FraudVerdict("allow", 0, ())


class FraudScorer(Protocol):
    async def score(self, session: AsyncSession, request: FraudInput) -> FraudVerdict: ...


# --- the rules, as pure functions ---------------------------------------------------------


def banded(value: int, review: int, block: int) -> tuple[Decision, int]:
    """A measure against its review and block thresholds, on the shared score bands."""
    if value >= block:
        return "block", BLOCK_SCORE
    if value >= review:
        span = max(block - review, 1)
        return "review", REVIEW_SCORE + (value - review) * (BLOCK_SCORE - REVIEW_SCORE) // span
    return "allow", max(value, 0) * REVIEW_SCORE // max(review, 1)


def velocity_verdict(count: int, *, window_seconds: int, review: int, block: int) -> FraudVerdict:
    """`count` payments by the customer within the window."""
    decision, score = banded(count, review, block)
    reasons = () if decision == "allow" else (f"velocity:{count}/{window_seconds}s",)
    return FraudVerdict(decision, score, reasons)


def amount_verdict(settlement_amount_minor: int, *, review: int, block: int) -> FraudVerdict:
    decision, score = banded(settlement_amount_minor, review, block)
    reasons = () if decision == "allow" else (f"amount:over-{decision}-limit",)
    return FraudVerdict(decision, score, reasons)


def _country(code: str | None) -> str | None:
    code = (code or "").strip().upper()
    return code or None


def country_verdict(request: FraudInput) -> FraudVerdict:
    """Card and IP country against the billing (else shipping) country: review on a mismatch."""
    reference = _country(request.billing_country)
    name = "billing"
    if reference is None:
        reference, name = _country(request.shipping_country), "shipping"
    if reference is None:
        return ALLOW
    reasons = tuple(
        f"country-mismatch:{kind}={country},{name}={reference}"
        for kind, country in (
            ("card", _country(request.card_country)),
            ("ip", _country(request.ip_country)),
        )
        if country is not None and country != reference
    )
    if not reasons:
        return ALLOW
    # one mismatch 50, both 75 (the noisy OR of two 50s)
    return FraudVerdict("review", combine_scores([REVIEW_SCORE] * len(reasons)), reasons)


def combine_scores(scores: Iterable[int]) -> int:
    """100 - round(100 * Π (1 - s/100)), each s clamped to 0..100."""
    remaining = Fraction(1)
    for s in scores:
        remaining *= Fraction(100 - min(max(s, 0), 100), 100)
    return 100 - round(remaining * 100)


def combine(verdicts: Iterable[FraudVerdict]) -> FraudVerdict:
    """The worst decision, the combined score and all reasons."""
    verdicts = list(verdicts)
    decision: Decision = max(
        (v.decision for v in verdicts), key=_SEVERITY.__getitem__, default="allow"
    )
    reasons = tuple(r for v in verdicts for r in v.reasons)
    return FraudVerdict(decision, combine_scores(v.score for v in verdicts), reasons)


# --- the rules as scorers -------------------------------------------------------------------


async def recent_payments(session: AsyncSession, customer_id: str, window_seconds: int) -> int:
    """The customer's payments created within the last `window_seconds` (database clock;
    `payments_customer_created_idx`)."""
    count = await session.scalar(
        select(func.count())
        .select_from(PAYMENTS)
        .where(
            PAYMENTS.c.customer_id == customer_id,
            PAYMENTS.c.created_at > func.now() - timedelta(seconds=window_seconds),
        )
    )
    return int(count or 0)


@dataclass(frozen=True)
class VelocityRule:
    window_seconds: int
    review: int
    block: int

    async def score(self, session: AsyncSession, request: FraudInput) -> FraudVerdict:
        if not request.customer_id:
            return ALLOW
        count = await recent_payments(session, request.customer_id, self.window_seconds)
        return velocity_verdict(
            count, window_seconds=self.window_seconds, review=self.review, block=self.block
        )


@dataclass(frozen=True)
class AmountRule:
    review: int
    block: int

    async def score(self, session: AsyncSession, request: FraudInput) -> FraudVerdict:
        return amount_verdict(request.settlement_amount_minor, review=self.review, block=self.block)


class CountryMismatchRule:
    async def score(self, session: AsyncSession, request: FraudInput) -> FraudVerdict:
        return country_verdict(request)


def default_rules(settings: PaymentSettings) -> list[FraudScorer]:
    return [
        VelocityRule(
            settings.fraud_velocity_window_seconds,
            settings.fraud_velocity_review,
            settings.fraud_velocity_block,
        ),
        AmountRule(settings.fraud_review_amount_minor, settings.fraud_block_amount_minor),
        CountryMismatchRule(),
    ]


class RulesEngine:
    """A `FraudScorer` made of scorers: the rules from the settings, then `extra` ones."""

    def __init__(
        self,
        settings: PaymentSettings,
        *,
        rules: Sequence[FraudScorer] | None = None,
        extra: Sequence[FraudScorer] = (),
    ) -> None:
        self.rules: list[FraudScorer] = [
            *(default_rules(settings) if rules is None else rules),
            *extra,
        ]

    async def score(self, session: AsyncSession, request: FraudInput) -> FraudVerdict:
        return combine([await rule.score(session, request) for rule in self.rules])
