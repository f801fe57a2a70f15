"""The payment participant of the checkout, refund and cancel sagas (`payment.commands.v1`).

The contract is docs/saga-participants.md, the one the payment sandbox followed:

- `authorize_payment` {order_id, amount_minor, currency, payment_method, customer_id} ->
  {"payment_id": "pay_<hex>"}. One payment per order: a repeat answers from the existing
  payment. Fraud rules run first (a block fails with `fraud_blocked: <reasons>`). A declined
  card fails with `card_declined: <decline code>: <message>`. When the provider's answer is not
  final (3-D Secure required, or the provider has not decided), no reply is sent yet: the
  command is kept with the payment (`pending_command`) and answered by `resolve()` when the
  webhook (or the shopper's return) decides. A re-sent command replaces the kept one.
- `void_authorization` {payment_id or order_id} -> {}: the provider's authorization is
  cancelled; nothing to void, or already void, is a success; a captured payment is refused.
- `refund_payment` {order_id, refund_id, payment_id, amount_minor, currency} ->
  {"provider_refund_id": "re_..."} (refunds.py), once per refund_id.

A transient provider failure (retries exhausted, breaker open) is a failure reply
`payment-unavailable: ...` with nothing kept; the provider call was made with the key
`order:<order_id>:authorize`, so a later attempt cannot create a second authorization.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.events import participant as core
from kommerce.events.emitter import registry
from kommerce.events.participant import Deferred, Refused, money_field, saved_command, text_field
from kommerce.events.serde import Event
from services.payment import authorization, payments, refunds
from services.payment.authorization import AuthorizeInput
from services.payment.context import PaymentContext
from services.payment.providers.base import ProviderError, ProviderUnavailable
from services.payment.providers.base import TransientProviderError as Transient
from services.payment.states import AUTHORIZED_OR_BETTER, CAPTURED_STATES, Status

PRODUCER = "payment"
TOPIC = "payment.commands.v1"


def failure_reason(row: Any) -> tuple[str, str]:
    """The (slug, detail) a failed or cancelled payment is answered with."""
    if row.failure_code == "fraud_blocked":
        return "fraud_blocked", row.failure_message or "blocked by the fraud rules"
    if row.status == Status.CANCELLED:
        return "authorization-voided", f"the payment {row.payment_id} was cancelled"
    if row.failure_code == "invalid_request":
        return "invalid-payment-method", row.failure_message or "refused by the provider"
    detail = row.failure_code or "declined"
    if row.failure_message:
        detail = f"{detail}: {row.failure_message}"
    return "card_declined", detail


class PaymentParticipant:
    def __init__(self, ctx: PaymentContext) -> None:
        self.ctx = ctx
        self.core = core.Participant(
            PRODUCER,
            {
                "authorize_payment": self.authorize_payment,
                "void_authorization": self.void_authorization,
                "refund_payment": self.refund_payment,
            },
            registry(),
        )

    async def handle(self, session: AsyncSession, command: Event) -> bool:
        return await self.core.handle(session, command)

    async def authorize_payment(
        self, session: AsyncSession, command: Event, data: dict[str, Any]
    ) -> dict[str, Any]:
        order_id = text_field(data, "order_id")
        amount = money_field(data)
        method = text_field(data, "payment_method")
        row = await payments.find(session, order_id=order_id, lock=True)
        if row is None:
            source = f"saga:{command.payload['saga_id']}"
            request = AuthorizeInput(
                order_id=order_id,
                customer_id=str(data.get("customer_id") or "")[:200].replace("\x00", ""),
                amount=amount,
                payment_method=method,
                provider="paypal" if method == "paypal" else "stripe",
                capture_method=self.ctx.settings.capture_method,
                idempotency_key=f"order:{order_id}:authorize",
                shipping_country=_country(data.get("shipping_country")),
                billing_country=_country(data.get("billing_country")),
            )
            try:
                row = await authorization.authorize(self.ctx, session, request, source=source)
            except (Transient, ProviderUnavailable) as down:
                raise Refused("payment-unavailable", down.message) from down
            except ProviderError as error:  # pragma: no cover - classified above
                raise Refused("payment-error", error.message) from error
        elif (row.amount_minor, row.currency) != (amount.amount, amount.currency):
            raise Refused(
                "authorization-conflict",
                f"order {order_id} was authorized for {row.amount_minor} {row.currency}, "
                f"not {amount.amount} {amount.currency}",
            )
        return await self._answer_now_or_defer(session, command, row)

    async def _answer_now_or_defer(
        self, session: AsyncSession, command: Event, row: Any
    ) -> dict[str, Any]:
        if row.status in AUTHORIZED_OR_BETTER or row.status in CAPTURED_STATES:
            return {"payment_id": row.payment_id}
        if row.status in (Status.FAILED, Status.CANCELLED):
            slug, detail = failure_reason(row)
            raise Refused(slug, detail, keep=True)  # the failed payment stays on record
        # pending or requires_action: answered by resolve() when the outcome is known
        await payments.update_fields(
            session, row.payment_id, pending_command=saved_command(command)
        )
        raise Deferred

    async def resolve(self, session: AsyncSession, row: Any) -> Any:
        """Answer the saga command waiting for this payment if its outcome is now known."""
        saved = row.pending_command
        if not saved:
            return row
        if row.status in AUTHORIZED_OR_BETTER or row.status in CAPTURED_STATES:
            await self.core.answer(
                session, saved, success=True, data={"payment_id": row.payment_id}
            )
        elif row.status in (Status.FAILED, Status.CANCELLED):
            slug, detail = failure_reason(row)
            await self.core.answer(session, saved, success=False, reason=f"{slug}: {detail}")
        else:
            return row
        return await payments.update_fields(session, row.payment_id, pending_command=None)

    async def void_authorization(
        self, session: AsyncSession, command: Event, data: dict[str, Any]
    ) -> dict[str, Any]:
        row = await _named_payment(session, data)
        if row is None or row.status in (Status.CANCELLED, Status.FAILED):
            return {}
        if row.status in CAPTURED_STATES:
            raise Refused(
                "payment-captured", f"payment {row.payment_id} was captured; refund it instead"
            )
        source = f"saga:{command.payload['saga_id']}"
        try:
            await authorization.cancel(self.ctx, session, row, source=source)
        except (Transient, ProviderUnavailable) as down:
            raise Refused("payment-unavailable", down.message) from down
        if row.pending_command:  # the saga has moved on: nothing waits for this payment now
            await payments.update_fields(session, row.payment_id, pending_command=None)
        return {}

    async def refund_payment(
        self, session: AsyncSession, command: Event, data: dict[str, Any]
    ) -> dict[str, Any]:
        refund_key = text_field(data, "refund_id")
        amount = money_field(data)
        row = await _named_payment(session, data)
        if row is None:
            raise Refused("payment-not-found", f"no payment {data.get('payment_id') or ''}".strip())
        if data.get("order_id") and str(data["order_id"]) != (row.order_id or ""):
            raise Refused(
                "payment-not-found", f"payment {row.payment_id} is not of order {data['order_id']}"
            )
        source = f"saga:{command.payload['saga_id']}"
        try:
            refund = await refunds.refund(
                self.ctx,
                session,
                row,
                amount,
                request_key=f"saga:{refund_key}",
                reason="",
                source=source,
            )
        except (Transient, ProviderUnavailable) as down:
            raise Refused("payment-unavailable", down.message) from down
        return {"provider_refund_id": refund.provider_reference or refund.refund_id}


async def _named_payment(session: AsyncSession, data: dict[str, Any]) -> Any | None:
    """The (locked) payment the command names: by payment_id if given, else by order_id."""
    if data.get("payment_id"):
        return await payments.find_by_id(session, text_field(data, "payment_id"), lock=True)
    return await payments.find(session, order_id=text_field(data, "order_id"), lock=True)


def _country(value: Any) -> str | None:
    return value.upper() if isinstance(value, str) and len(value) == 2 else None
