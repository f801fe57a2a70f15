"""The fraud rules one by one, and how the engine combines them (no database: the velocity
rule's count comes from a stub session; tests/integration/payment_service/test_fraud_velocity.py
counts real rows)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.money import Money
from services.payment.fraud import (
    ALLOW,
    AmountRule,
    CountryMismatchRule,
    FraudInput,
    FraudVerdict,
    RulesEngine,
    VelocityRule,
    amount_verdict,
    banded,
    combine,
    combine_scores,
    country_verdict,
    velocity_verdict,
)
from services.payment.settings import PaymentSettings

pytestmark = pytest.mark.unit

BASE = FraudInput(
    customer_id="cus-1",
    amount=Money(amount=5_000, currency="EUR"),
    settlement_amount_minor=5_000,
    billing_country="DE",
    card_country="DE",
    ip_country="DE",
    shipping_country="DE",
)


class CountingSession:
    """Answers the velocity rule's COUNT with a fixed number and records the query."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.queries: list[Any] = []

    async def scalar(self, query: Any) -> int:
        self.queries.append(query)
        return self.count


def session(count: int = 0) -> AsyncSession:
    return cast(AsyncSession, CountingSession(count))


def settings(**overrides: Any) -> PaymentSettings:
    values: dict[str, Any] = {
        "fraud_velocity_window_seconds": 600,
        "fraud_velocity_review": 5,
        "fraud_velocity_block": 10,
        "fraud_review_amount_minor": 100_000,
        "fraud_block_amount_minor": 1_000_000,
        **overrides,
    }
    return PaymentSettings(**values)


# --- bands ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, ("allow", 0)),
        (2, ("allow", 20)),
        (4, ("allow", 40)),
        (5, ("review", 50)),
        (7, ("review", 70)),
        (9, ("review", 90)),
        (10, ("block", 100)),
        (1_000, ("block", 100)),
    ],
)
def test_bands(value: int, expected: tuple[str, int]) -> None:
    assert banded(value, 5, 10) == expected


def test_bands_with_equal_thresholds_jump_to_block() -> None:
    assert banded(3, 3, 3) == ("block", 100)
    assert banded(2, 3, 3) == ("allow", 33)


# --- velocity ---------------------------------------------------------------------------------


def test_velocity_below_review_allows_without_reasons() -> None:
    assert velocity_verdict(4, window_seconds=600, review=5, block=10) == FraudVerdict(
        "allow", 40, ()
    )


def test_velocity_at_review_threshold_reviews() -> None:
    assert velocity_verdict(6, window_seconds=600, review=5, block=10) == FraudVerdict(
        "review", 60, ("velocity:6/600s",)
    )


def test_velocity_at_block_threshold_blocks() -> None:
    assert velocity_verdict(10, window_seconds=60, review=5, block=10) == FraudVerdict(
        "block", 100, ("velocity:10/60s",)
    )


async def test_velocity_rule_counts_through_the_session() -> None:
    stub = CountingSession(7)
    verdict = await VelocityRule(600, 5, 10).score(cast(AsyncSession, stub), BASE)
    assert verdict == FraudVerdict("review", 70, ("velocity:7/600s",))
    assert len(stub.queries) == 1
    sql = str(stub.queries[0])
    assert "count" in sql.lower()
    assert "customer_id" in sql
    assert "created_at" in sql


async def test_velocity_rule_skips_guests() -> None:
    stub = CountingSession(50)
    guest = replace(BASE, customer_id="")
    assert await VelocityRule(600, 5, 10).score(cast(AsyncSession, stub), guest) == ALLOW
    assert stub.queries == []


# --- amount -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minor", "decision", "score", "reasons"),
    [
        (0, "allow", 0, ()),
        (50_000, "allow", 25, ()),
        (99_999, "allow", 49, ()),
        (100_000, "review", 50, ("amount:over-review-limit",)),
        (550_000, "review", 75, ("amount:over-review-limit",)),
        (1_000_000, "block", 100, ("amount:over-block-limit",)),
        (5_000_000, "block", 100, ("amount:over-block-limit",)),
    ],
)
def test_amount(minor: int, decision: str, score: int, reasons: tuple[str, ...]) -> None:
    assert amount_verdict(minor, review=100_000, block=1_000_000) == FraudVerdict(
        decision,  # type: ignore[arg-type]
        score,
        reasons,
    )


async def test_amount_rule_uses_the_settlement_amount_not_the_presentment() -> None:
    # ¥1,000,000 presented (JPY has no minor digits) settles as €6,100.00
    request = replace(
        BASE, amount=Money(amount=1_000_000, currency="JPY"), settlement_amount_minor=610_000
    )
    verdict = await AmountRule(100_000, 1_000_000).score(session(), request)
    assert verdict.decision == "review"
    assert verdict.reasons == ("amount:over-review-limit",)


# --- country mismatch -------------------------------------------------------------------------


def test_countries_that_agree_allow() -> None:
    assert country_verdict(BASE) == ALLOW


def test_card_country_differing_from_billing_reviews() -> None:
    verdict = country_verdict(replace(BASE, card_country="US"))
    assert verdict == FraudVerdict("review", 50, ("country-mismatch:card=US,billing=DE",))


def test_ip_country_differing_from_billing_reviews() -> None:
    verdict = country_verdict(replace(BASE, ip_country="ng"))
    assert verdict == FraudVerdict("review", 50, ("country-mismatch:ip=NG,billing=DE",))


def test_both_mismatches_score_higher() -> None:
    verdict = country_verdict(replace(BASE, card_country="US", ip_country="BR"))
    assert verdict == FraudVerdict(
        "review",
        75,
        ("country-mismatch:card=US,billing=DE", "country-mismatch:ip=BR,billing=DE"),
    )


def test_unknown_countries_are_not_compared() -> None:
    assert country_verdict(replace(BASE, card_country=None, ip_country="")) == ALLOW
    assert (
        country_verdict(
            replace(BASE, billing_country=None, shipping_country=None, card_country="US")
        )
        == ALLOW
    )


def test_shipping_country_stands_in_for_a_missing_billing_country() -> None:
    verdict = country_verdict(
        replace(
            BASE, billing_country=None, shipping_country="FR", card_country="fr", ip_country="US"
        )
    )
    assert verdict == FraudVerdict("review", 50, ("country-mismatch:ip=US,shipping=FR",))


def test_shipping_differing_from_billing_alone_is_not_a_mismatch() -> None:
    assert country_verdict(replace(BASE, shipping_country="AT")) == ALLOW


async def test_country_rule_is_the_pure_function() -> None:
    request = replace(BASE, card_country="US")
    assert await CountryMismatchRule().score(session(), request) == country_verdict(request)


# --- combination ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([], 0),
        ([0, 0, 0], 0),
        ([40], 40),
        ([50, 50], 75),
        ([40, 25], 55),  # 1 - 0.6 * 0.75
        ([50, 50, 50], 88),  # 1 - 0.125 = 0.875 → 88 (half to even)
        ([100, 0], 100),
        ([150, -5], 100),  # clamped
    ],
)
def test_combined_score(scores: list[int], expected: int) -> None:
    assert combine_scores(scores) == expected


def test_combine_takes_the_worst_decision_and_all_reasons() -> None:
    verdict = combine(
        [
            FraudVerdict("review", 60, ("velocity:6/600s",)),
            FraudVerdict("allow", 20, ()),
            FraudVerdict("block", 100, ("amount:over-block-limit",)),
        ]
    )
    assert verdict == FraudVerdict("block", 100, ("velocity:6/600s", "amount:over-block-limit"))


def test_combine_of_nothing_allows() -> None:
    assert combine([]) == ALLOW


def test_several_allows_can_add_up_to_a_high_score_but_still_allow() -> None:
    verdict = combine([FraudVerdict("allow", 45, ()), FraudVerdict("allow", 45, ())])
    assert verdict == FraudVerdict("allow", 70, ())


# --- the engine ---------------------------------------------------------------------------------


async def test_engine_allows_an_ordinary_payment() -> None:
    verdict = await RulesEngine(settings()).score(session(1), BASE)
    # velocity 1/5 → 10, amount 5,000/100,000 → 2, countries agree → 0
    assert verdict == FraudVerdict("allow", 12, ())


async def test_engine_combines_velocity_amount_and_country() -> None:
    request = replace(BASE, settlement_amount_minor=100_000, card_country="US")
    verdict = await RulesEngine(settings()).score(session(6), request)
    assert verdict.decision == "review"
    assert verdict.reasons == (
        "velocity:6/600s",
        "amount:over-review-limit",
        "country-mismatch:card=US,billing=DE",
    )
    assert verdict.score == combine_scores([60, 50, 50])  # 1 - 0.4 * 0.5 * 0.5 = 0.9
    assert verdict.score == 90


async def test_engine_blocks_when_any_rule_blocks() -> None:
    verdict = await RulesEngine(settings()).score(session(10), BASE)
    assert verdict.decision == "block"
    assert verdict.score == 100
    assert verdict.reasons == ("velocity:10/600s",)


async def test_engine_reads_its_thresholds_from_the_settings() -> None:
    strict = settings(
        fraud_velocity_window_seconds=60,
        fraud_velocity_review=2,
        fraud_velocity_block=3,
        fraud_review_amount_minor=1_000,
        fraud_block_amount_minor=4_000,
    )
    verdict = await RulesEngine(strict).score(session(2), BASE)
    assert verdict.decision == "block"
    assert verdict.reasons == ("velocity:2/60s", "amount:over-block-limit")


class Fixed:
    """A stand-in for the future ML scorer."""

    def __init__(self, verdict: FraudVerdict) -> None:
        self.verdict = verdict
        self.seen: list[FraudInput] = []

    async def score(self, session: AsyncSession, request: FraudInput) -> FraudVerdict:
        self.seen.append(request)
        return self.verdict


async def test_an_extra_scorer_plugs_into_the_engine() -> None:
    ml = Fixed(FraudVerdict("review", 80, ("ml:model-v1=0.80",)))
    engine = RulesEngine(settings(), extra=[ml])
    verdict = await engine.score(session(0), BASE)
    assert ml.seen == [BASE]
    assert verdict.decision == "review"
    assert verdict.reasons == ("ml:model-v1=0.80",)
    assert verdict.score == combine_scores([0, 2, 0, 80])


async def test_rules_can_be_replaced() -> None:
    engine = RulesEngine(settings(), rules=[Fixed(FraudVerdict("allow", 10, ()))])
    assert await engine.score(session(100), BASE) == FraudVerdict("allow", 10, ())
