"""Checkout: a shopper's validated cart becomes an order, and the checkout saga starts.

One transaction (so a crash leaves either everything or nothing):
  1. claim the `Idempotency-Key` (a concurrent duplicate waits here for the first's result);
  2. price the cart again (`cart.quote`): catalogue prices, availability, coupon, shipping, tax;
     any blocking problem — a price that changed since the shopper saw it, too little stock,
     an unknown shipping method — is a 409 listing the problems, and nothing is kept;
  3. insert the order (`pending`), its lines, its history and `order.placed` +
     `order.status_changed` into the outbox; redeem the coupon;
  4. start the checkout saga (its first command goes out through the same outbox);
  5. store the response under the key.
The cart is emptied after the commit. The shopper then polls `GET /v1/orders/{id}/status` or
subscribes to `GET /v1/orders/{id}/events` while the saga runs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Text, cast, func, insert, literal, update
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.auth.claims import Principal
from kommerce.data import idempotency
from kommerce.http.errors import Conflict
from services.order import events, orders
from services.order.cart import CartStore, Quote, quote
from services.order.cart.availability import Availability
from services.order.checkout_saga import CheckoutSaga
from services.order.models import CheckoutIn, order_out
from services.order.settings import OrderSettings
from services.order.states import OrderStatus
from services.order.tables import COUPONS, ORDER_LINES, ORDER_NUMBERS, ORDERS


class CartEmpty(Conflict):
    slug, title = "cart-empty", "The cart is empty"


class CheckoutBlocked(Conflict):
    slug, title = "checkout-blocked", "The cart cannot be checked out as it is"


class TotalChanged(Conflict):
    slug, title = "total-changed", "The total is not the one the shopper saw"


class CouponExhausted(Conflict):
    slug, title = "coupon-exhausted", "The coupon has no redemptions left"


@dataclass(frozen=True)
class Placed:
    status_code: int
    body: dict[str, Any]
    replayed: bool  # the stored response of an earlier request with the same key


class Checkout:
    def __init__(
        self,
        settings: OrderSettings,
        carts: CartStore,
        availability: Availability,
        saga: CheckoutSaga,
    ) -> None:
        self.settings = settings
        self.carts = carts
        self.availability = availability
        self.saga = saga

    async def place(
        self, session: AsyncSession, principal: Principal, key: str, body: CheckoutIn
    ) -> Placed:
        """The response for this checkout; call inside one transaction."""
        owner = principal.user_id
        stored = await idempotency.claim(
            session,
            owner=owner,
            key=key,
            fingerprint=idempotency.fingerprint(body.model_dump(mode="json")),
        )
        if stored is not None:
            return Placed(stored.status_code, stored.response, replayed=True)
        cart = await self.carts.load(owner)
        if cart is None or not cart.lines:
            raise CartEmpty("there is nothing in the cart to check out")
        q = await quote(
            session,
            cart,
            availability=self.availability,
            coupon=cart.coupon,
            shipping_method=body.shipping_method,
            country=body.shipping_address.country,
        )
        self._check(q, body)
        order_id, saga_id = uuid.uuid4(), uuid.uuid4()
        row = await self._insert(session, principal, body, q, order_id, saga_id)
        order = orders.Order(row)
        await orders.record_creation(session, order, actor=owner, also=[self._placed(order, q)])
        if q.coupon is not None:
            await self._redeem(session, q.coupon)
        await self.saga.start(session, saga_id, self._saga_data(order, q, body))
        out = order_out(row, q.lines).model_dump(mode="json")
        await idempotency.remember(
            session, owner=owner, key=key, status_code=201, response=out, resource_id=order_id
        )
        return Placed(201, out, replayed=False)

    @staticmethod
    def _check(q: Quote, body: CheckoutIn) -> None:
        if not q.ready:
            raise CheckoutBlocked(
                "the cart has problems to resolve first: "
                + "; ".join(p["code"] for p in q.problems),
                problems=q.problems,
            )
        if body.expected_total_minor is not None and body.expected_total_minor != q.total_minor:
            raise TotalChanged(
                f"the total is now {q.total_minor} {q.currency} minor units, "
                f"not {body.expected_total_minor}; show the cart again and confirm",
                total_minor=q.total_minor,
                currency=q.currency,
            )

    async def _insert(
        self,
        session: AsyncSession,
        principal: Principal,
        body: CheckoutIn,
        q: Quote,
        order_id: uuid.UUID,
        saga_id: uuid.UUID,
    ) -> dict[str, Any]:
        shipping = body.shipping_address.model_dump(mode="json", exclude_none=True)
        billing = (body.billing_address or body.shipping_address).model_dump(
            mode="json", exclude_none=True
        )
        number = literal("KO-") + func.lpad(cast(ORDER_NUMBERS.next_value(), Text), 6, "0")
        row = (
            (
                await session.execute(
                    insert(ORDERS)
                    .values(
                        id=order_id,
                        number=number,
                        customer_id=uuid.UUID(principal.user_id),
                        email=str(body.email),
                        locale=body.locale,
                        status=OrderStatus.PENDING.value,
                        currency=q.currency,
                        subtotal_minor=q.subtotal_minor,
                        discount_minor=q.discount_minor,
                        shipping_minor=q.shipping_minor,
                        tax_minor=q.tax_minor,
                        total_minor=q.total_minor,
                        coupon_code=q.coupon,
                        shipping_method=body.shipping_method,
                        shipping_address=shipping,
                        billing_address=billing,
                        payment_method=body.payment_method,
                        saga_id=saga_id,
                    )
                    .returning(*ORDERS.c)
                )
            )
            .mappings()
            .one()
        )
        await session.execute(
            insert(ORDER_LINES),
            [
                {
                    "order_id": order_id,
                    "line_no": n,
                    "variant_id": line.variant_id,
                    "product_id": line.product_id,
                    "sku": line.sku,
                    "name": line.name,
                    "quantity": line.quantity,
                    "unit_price_minor": line.unit_price_minor,
                    "discount_minor": line.discount_minor,
                    "tax_rate_bp": line.tax_rate_bp,
                    "tax_minor": line.tax_minor,
                    "total_minor": line.total_minor,
                }
                for n, line in enumerate(q.lines, start=1)
            ],
        )
        return dict(row)

    @staticmethod
    def _placed(order: orders.Order, q: Quote) -> tuple[str, dict[str, Any]]:
        r = order.row
        return events.PLACED, {
            "order_id": str(r["id"]),
            "customer_id": str(r["customer_id"]),
            "currency": r["currency"],
            "total_minor": r["total_minor"],
            "lines": [
                {
                    "variant_id": str(line.variant_id),
                    "quantity": line.quantity,
                    "unit_price_minor": line.unit_price_minor,
                    "sku": line.sku,
                    "name": line.name,
                }
                for line in q.lines
            ],
            "number": r["number"],
            "placed_at": r["created_at"] or datetime.now(UTC),
        }

    @staticmethod
    async def _redeem(session: AsyncSession, code: str) -> None:
        redeemed = (
            await session.execute(
                update(COUPONS)
                .where(COUPONS.c.code == code)
                .where(
                    (COUPONS.c.max_redemptions.is_(None))
                    | (COUPONS.c.redeemed < COUPONS.c.max_redemptions)
                )
                .values(redeemed=COUPONS.c.redeemed + 1)
                .returning(COUPONS.c.code)
            )
        ).first()
        if redeemed is None:
            raise CouponExhausted(f"coupon {code} has been used up; remove it from the cart")

    def _saga_data(self, order: orders.Order, q: Quote, body: CheckoutIn) -> dict[str, Any]:
        r = order.row
        a = body.shipping_address
        ship_to = (
            {"latitude": a.latitude, "longitude": a.longitude}
            if a.latitude is not None and a.longitude is not None
            else None
        )
        return {
            "order_id": str(r["id"]),
            "order_number": r["number"],
            "customer_id": str(r["customer_id"]),
            "currency": r["currency"],
            "amount_minor": r["total_minor"],
            "payment_method": r["payment_method"],
            "shipping_country": a.country,  # the payment service's fraud rules compare it
            "lines": [{"variant_id": str(x.variant_id), "quantity": x.quantity} for x in q.lines],
            "ship_to": ship_to,
            "reservation_ttl_seconds": self.settings.reservation_ttl_seconds,
        }
