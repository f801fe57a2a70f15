"""The payment sandbox as the checkout/refund sagas' payment participant: commands in on
`payment.commands.v1`, replies out on `<saga>.replies.v1`."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.integration.saga_driver import SagaDriver
from tests.integration.saga_participants.conftest import PaymentSandbox

pytestmark = pytest.mark.integration


def checkout(method: str = "pm_card_visa", **extra: Any) -> dict[str, Any]:
    return {
        "order_id": str(uuid.uuid4()),
        "order_number": "K-2",
        "customer_id": str(uuid.uuid4()),
        "currency": "EUR",
        "amount_minor": 4999,
        "payment_method": method,
        "lines": [{"variant_id": str(uuid.uuid4()), "quantity": 1}],
        "ship_to": None,
        "reservation_ttl_seconds": 900,
        "reservation_id": str(uuid.uuid4()),
        **extra,
    }


async def authorize(orchestrator: SagaDriver, data: dict[str, Any]) -> dict[str, Any]:
    return await orchestrator.call("payment", "authorize_payment", data, step=1)


def refund(data: dict[str, Any], amount: int, refund_id: str | None = None) -> dict[str, Any]:
    return {
        "order_id": data["order_id"],
        "refund_id": refund_id or str(uuid.uuid4()),
        "payment_id": data["payment_id"],
        "amount_minor": amount,
        "currency": data["currency"],
    }


@pytest.mark.parametrize("method", ["pm_card_visa", "pm_card_mastercard", "pm_card_amex"])
async def test_test_cards_authorize(
    payment_sandbox: PaymentSandbox, orchestrator: SagaDriver, method: str
) -> None:
    data = checkout(method)
    reply = await authorize(orchestrator, data)
    assert reply["outcome"] == "success", reply
    assert set(reply["data"]) == {"payment_id"}
    assert reply["data"]["payment_id"].startswith("pi_sandbox_")
    payment = await payment_sandbox.payment(reply["data"]["payment_id"])
    assert payment["status"] == "authorized"
    assert (payment["order_id"], payment["amount_minor"], payment["currency"]) == (
        data["order_id"],
        4999,
        "EUR",
    )
    assert payment["payment_method"] == method


@pytest.mark.parametrize(
    ("method", "reason"),
    [
        ("pm_card_chargeDeclined", "card_declined: Your card was declined."),
        ("pm_card_chargeDeclinedInsufficientFunds", "card_declined: insufficient_funds"),
    ],
)
async def test_declining_cards_fail_and_authorize_nothing(
    payment_sandbox: PaymentSandbox, orchestrator: SagaDriver, method: str, reason: str
) -> None:
    data = checkout(method)
    reply = await authorize(orchestrator, data)
    assert reply["outcome"] == "failure"
    assert reply["reason"] == reason
    assert await payment_sandbox.of_order(data["order_id"]) == []


async def test_authorize_is_idempotent_by_order(
    payment_sandbox: PaymentSandbox, orchestrator: SagaDriver
) -> None:
    data = checkout()
    saga_id = str(uuid.uuid4())
    await orchestrator.send("payment", "authorize_payment", data, saga_id=saga_id, step=1)
    await orchestrator.send(
        "payment", "authorize_payment", data, saga_id=saga_id, step=1, attempt=2
    )
    first = await orchestrator.reply(saga_id, count=1)
    second = await orchestrator.reply(saga_id, count=2)
    assert first["outcome"] == second["outcome"] == "success"
    assert first["data"] == second["data"]
    assert len(await payment_sandbox.of_order(data["order_id"])) == 1
    # the same order for another amount is not the same authorization
    other = await authorize(orchestrator, data | {"amount_minor": 1})
    assert other["outcome"] == "failure"
    assert other["reason"].startswith("authorization-conflict: ")


async def test_invalid_money_is_refused(
    payment_sandbox: PaymentSandbox, orchestrator: SagaDriver
) -> None:
    reply = await authorize(orchestrator, checkout(currency="EURO"))
    assert reply["outcome"] == "failure"
    assert reply["reason"].startswith("invalid-currency: ")
    reply = await authorize(orchestrator, checkout(amount_minor=0))
    assert reply["reason"].startswith("invalid-amount: ")
    reply = await authorize(orchestrator, checkout(amount_minor="12.00"))
    assert reply["reason"].startswith("invalid-amount: ")
    reply = await authorize(orchestrator, checkout(method="tok_visa"))
    assert reply["reason"].startswith("invalid-payment-method: ")


async def test_void_is_idempotent(
    payment_sandbox: PaymentSandbox, orchestrator: SagaDriver
) -> None:
    data = checkout()
    authorized = await authorize(orchestrator, data)
    data |= authorized["data"]
    for _ in range(2):
        voided = await orchestrator.call(
            "payment", "void_authorization", data, step=1, phase="compensate"
        )
        assert voided["outcome"] == "success", voided
    assert (await payment_sandbox.payment(data["payment_id"]))["status"] == "voided"
    # a payment that failed (nothing authorized) has nothing to void: a success
    declined = checkout("pm_card_chargeDeclined")
    voided = await orchestrator.call("payment", "void_authorization", declined, phase="compensate")
    assert voided["outcome"] == "success"


async def test_refunds_up_to_the_amount_idempotent_by_refund_id(
    payment_sandbox: PaymentSandbox, orchestrator: SagaDriver
) -> None:
    data = checkout(amount_minor=5000)
    data |= (await authorize(orchestrator, data))["data"]
    first = refund(data, 3000)
    replies = [
        await orchestrator.call("payment", "refund_payment", first, saga_type="refund")
        for _ in range(2)
    ]
    assert [r["outcome"] for r in replies] == ["success", "success"]
    assert replies[0]["data"] == replies[1]["data"]
    assert replies[0]["data"]["provider_refund_id"].startswith("re_sandbox_")
    too_much = await orchestrator.call(
        "payment", "refund_payment", refund(data, 2001), saga_type="refund"
    )
    assert too_much["outcome"] == "failure"
    assert too_much["reason"].startswith("refund-exceeds-captured: "), too_much["reason"]
    rest = await orchestrator.call(
        "payment", "refund_payment", refund(data, 2000), saga_type="refund"
    )
    assert rest["outcome"] == "success"
    payment = await payment_sandbox.payment(data["payment_id"])
    assert payment["refunded_minor"] == 5000
    assert [r["amount_minor"] for r in payment["refunds"]] in ([3000, 2000], [2000, 3000])
    unknown = await orchestrator.call(
        "payment",
        "refund_payment",
        refund(data | {"payment_id": "pi_sandbox_0"}, 1),
        saga_type="refund",
    )
    assert unknown["reason"].startswith("payment-not-found: ")


async def test_unknown_command_fails(
    payment_sandbox: PaymentSandbox, orchestrator: SagaDriver
) -> None:
    reply = await orchestrator.call("payment", "capture_everything", checkout())
    assert reply["outcome"] == "failure"
    assert reply["reason"].startswith("unknown-command: ")
