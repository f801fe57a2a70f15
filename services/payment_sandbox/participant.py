"""The payment sandbox: a sandbox participant following the payment command contract until the
payment service (issue 9) replaces it. No money moves: no payment provider is called, nothing
is charged or paid out; authorizations and refunds are rows in this service's own tables.

It consumes `payment.commands.v1` (`saga.command`) and answers on the saga's replies topic
(`<saga>.replies.v1`), the reply written to its outbox in the transaction that records the
effect (kommerce.events.participant). The contract is docs/saga-participants.md:

- `authorize_payment` {order_id, amount_minor, currency, payment_method, customer_id} ->
  {"payment_id": "pi_sandbox_<hex>"}; the outcome follows Stripe's test payment methods
  (outcomes.py): `pm_card_visa`, `pm_card_mastercard`, any other `pm_card_*` approve,
  `pm_card_chargeDeclined` fails `card_declined: Your card was declined.`,
  `pm_card_chargeDeclinedInsufficientFunds` fails `card_declined: insufficient_funds`.
  Idempotent by order_id (one authorization per order; a decline is decided again, the same).
- `void_authorization` {payment_id or order_id} -> {}: voided; nothing to void is a success.
- `refund_payment` {order_id, refund_id, payment_id, amount_minor, currency} ->
  {"provider_refund_id": "re_sandbox_<hex>"}; idempotent by refund_id; refunds may not add up
  to more than the authorized amount (`refund-exceeds-captured: ...`).
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.events import participant as core
from kommerce.events.emitter import registry
from kommerce.events.participant import Refused, money_field, text_field
from kommerce.events.serde import Event
from services.payment_sandbox.outcomes import decline_reason
from services.payment_sandbox.tables import AUTHORIZATIONS, REFUNDS

PRODUCER = "payment"  # the participant name of the saga steps (payment.commands.v1)
TOPIC = "payment.commands.v1"


def new_payment_id() -> str:
    return f"pi_sandbox_{secrets.token_hex(12)}"


def new_refund_id() -> str:
    return f"re_sandbox_{secrets.token_hex(12)}"


async def _authorization(session: AsyncSession, data: dict[str, Any], *, lock: bool) -> Any | None:
    """The authorization the command names: by payment_id if given, else by order_id."""
    if data.get("payment_id"):
        condition = AUTHORIZATIONS.c.payment_id == text_field(data, "payment_id")
    else:
        condition = AUTHORIZATIONS.c.order_id == text_field(data, "order_id")
    query = select(AUTHORIZATIONS).where(condition)
    return (await session.execute(query.with_for_update() if lock else query)).first()


async def authorize_payment(
    session: AsyncSession, command: Event, data: dict[str, Any]
) -> dict[str, Any]:
    order_id = text_field(data, "order_id")
    money = money_field(data)
    method = text_field(data, "payment_method")
    customer = str(data.get("customer_id") or "")[:200].replace("\x00", "")
    values = {
        "order_id": order_id,
        "customer_id": customer,
        "amount_minor": money.amount,
        "currency": money.currency,
        "payment_method": method,
    }
    existing = await _authorization(session, {"order_id": order_id}, lock=False)
    if existing is None:
        declined = decline_reason(method)
        if declined is not None:
            slug, _, detail = declined.partition(": ")
            raise Refused(slug, detail)
        # A concurrent authorize of the same order (two attempts on two consumers) inserts
        # nothing here and reads the winner's row below.
        stmt = (
            pg_insert(AUTHORIZATIONS)
            .values(payment_id=new_payment_id(), status="authorized", **values)
            .on_conflict_do_nothing(index_elements=["order_id"])
            .returning(AUTHORIZATIONS.c.payment_id)
        )
        created = (await session.execute(stmt)).scalar_one_or_none()
        if created is not None:
            return {"payment_id": created}
        existing = await _authorization(session, {"order_id": order_id}, lock=False)
        assert existing is not None
    if (existing.amount_minor, existing.currency) != (money.amount, money.currency):
        raise Refused(
            "authorization-conflict",
            f"order {order_id} was authorized for {existing.amount_minor} {existing.currency}, "
            f"not {money.amount} {money.currency}",
        )
    if existing.status == "voided":
        raise Refused("authorization-voided", f"the authorization {existing.payment_id} was voided")
    return {"payment_id": existing.payment_id}


async def void_authorization(
    session: AsyncSession, command: Event, data: dict[str, Any]
) -> dict[str, Any]:
    """Compensation of authorize_payment: nothing authorized, or voided already, is a success."""
    found = await _authorization(session, data, lock=True)
    if found is None or found.status == "voided":
        return {}
    if found.status == "captured":
        raise Refused(
            "payment-captured", f"payment {found.payment_id} was captured; refund it instead"
        )
    await session.execute(
        update(AUTHORIZATIONS)
        .where(AUTHORIZATIONS.c.payment_id == found.payment_id)
        .values(status="voided", updated_at=func.now())
    )
    return {}


async def refund_payment(
    session: AsyncSession, command: Event, data: dict[str, Any]
) -> dict[str, Any]:
    refund_id = text_field(data, "refund_id")
    money = money_field(data)
    payment = await _authorization(session, data, lock=True)  # serializes refunds of a payment
    done = (await session.execute(select(REFUNDS).where(REFUNDS.c.refund_id == refund_id))).first()
    if done is not None:  # a re-sent refund
        if (done.amount_minor, done.currency) != (money.amount, money.currency):
            raise Refused(
                "refund-conflict",
                f"refund {refund_id} was {done.amount_minor} {done.currency}, "
                f"not {money.amount} {money.currency}",
            )
        return {"provider_refund_id": done.provider_refund_id}
    if payment is None:
        raise Refused("payment-not-found", f"no payment {data.get('payment_id') or ''}".strip())
    if data.get("order_id") and str(data["order_id"]) != payment.order_id:
        raise Refused(
            "payment-not-found", f"payment {payment.payment_id} is not of order {data['order_id']}"
        )
    if payment.status == "voided":
        raise Refused("payment-voided", f"payment {payment.payment_id} was voided")
    if payment.currency != money.currency:
        raise Refused(
            "currency-mismatch",
            f"payment {payment.payment_id} is in {payment.currency}, not {money.currency}",
        )
    refunded = (
        await session.execute(
            select(func.coalesce(func.sum(REFUNDS.c.amount_minor), 0)).where(
                REFUNDS.c.payment_id == payment.payment_id
            )
        )
    ).scalar_one()
    if refunded + money.amount > payment.amount_minor:
        raise Refused(
            "refund-exceeds-captured",
            f"refunding {money.amount} {money.currency} would bring refunds of payment "
            f"{payment.payment_id} to {refunded + money.amount}, more than the "
            f"{payment.amount_minor} captured",
        )
    provider_refund_id = new_refund_id()
    await session.execute(
        insert(REFUNDS).values(
            refund_id=refund_id,
            payment_id=payment.payment_id,
            amount_minor=money.amount,
            currency=money.currency,
            provider_refund_id=provider_refund_id,
        )
    )
    return {"provider_refund_id": provider_refund_id}


def participant() -> core.Participant:
    return core.Participant(
        PRODUCER,
        {
            "authorize_payment": authorize_payment,
            "void_authorization": void_authorization,
            "refund_payment": refund_payment,
        },
        registry(),
    )
