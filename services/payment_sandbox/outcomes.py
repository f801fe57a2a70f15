"""What the sandbox answers to an authorization, decided by the payment method like Stripe's
test payment methods: `pm_card_visa`, `pm_card_mastercard` and any other `pm_card_*` are
approved; the `pm_card_chargeDeclined*` ones are declined with Stripe's decline code; anything
else is not a payment method the sandbox knows."""

from __future__ import annotations

DECLINED = "card_declined: Your card was declined."
# Stripe test payment method -> the failure reason (`<slug>: <decline code or message>`).
DECLINES = {
    "pm_card_chargeDeclined": DECLINED,
    "pm_card_chargeDeclinedInsufficientFunds": "card_declined: insufficient_funds",
    "pm_card_chargeDeclinedFraudulent": "card_declined: fraudulent",
    "pm_card_chargeDeclinedLostCard": "card_declined: lost_card",
    "pm_card_chargeDeclinedStolenCard": "card_declined: stolen_card",
    "pm_card_chargeDeclinedExpiredCard": "card_declined: expired_card",
    "pm_card_chargeDeclinedIncorrectCvc": "card_declined: incorrect_cvc",
    "pm_card_chargeDeclinedProcessingError": "card_declined: processing_error",
}


def decline_reason(payment_method: str) -> str | None:
    """None: approved; else the failure reason of the reply."""
    if payment_method in DECLINES:
        return DECLINES[payment_method]
    if payment_method.startswith("pm_card_chargeDeclined"):
        return DECLINED
    if payment_method.startswith("pm_card_") and len(payment_method) > len("pm_card_"):
        return None
    return f"invalid-payment-method: {payment_method[:100]!r} is not a sandbox test payment method"
