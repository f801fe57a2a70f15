"""The payment sandbox decides an authorization by the payment method, like Stripe's test
payment methods (services/payment_sandbox/outcomes.py)."""

from __future__ import annotations

import pytest

from services.payment_sandbox.outcomes import DECLINES, decline_reason
from services.payment_sandbox.participant import new_payment_id, new_refund_id

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("method", "reason"),
    [
        ("pm_card_visa", None),
        ("pm_card_mastercard", None),
        ("pm_card_amex", None),
        ("pm_card_visa_debit", None),
        ("pm_card_chargeDeclined", "card_declined: Your card was declined."),
        ("pm_card_chargeDeclinedInsufficientFunds", "card_declined: insufficient_funds"),
        ("pm_card_chargeDeclinedFraudulent", "card_declined: fraudulent"),
        ("pm_card_chargeDeclinedExpiredCard", "card_declined: expired_card"),
        ("pm_card_chargeDeclinedSomethingNew", "card_declined: Your card was declined."),
    ],
)
def test_outcome_table(method: str, reason: str | None) -> None:
    assert decline_reason(method) == reason


@pytest.mark.parametrize("method", ["", "pm_card_", "tok_visa", "card_visa", "pm_visa"])
def test_other_methods_are_not_sandbox_test_methods(method: str) -> None:
    reason = decline_reason(method)
    assert reason is not None
    assert reason.startswith("invalid-payment-method: ")


def test_every_decline_is_a_card_declined_slug() -> None:
    assert all(reason.startswith("card_declined: ") for reason in DECLINES.values())


def test_ids_look_like_the_providers() -> None:
    ids = {new_payment_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(i.startswith("pi_sandbox_") and len(i) == len("pi_sandbox_") + 24 for i in ids)
    assert new_refund_id().startswith("re_sandbox_")
