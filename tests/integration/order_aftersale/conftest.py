"""Fixtures for the order service after the sale: the real app in-process (migrations, relay,
consumer, saga timeout job) on the test stack's PostgreSQL, Redis and Kafka, reached over ASGI.

Paid orders are set up the way checkout leaves them: rows inserted in the service's schema
(order, lines, shipping method) and moved pending → awaiting_payment → paid through
`orders.transition`, with `order.placed` and `order.status_changed` in the outbox.

The saga participants are the real ones, in-process: the inventory app (its participant on
inventory.commands.v1) and the payment sandbox (payment.commands.v1). Orders a saga will talk
about (`paid_order(real=True)`) get real effects there first: stock reserved and committed,
the payment authorized (commands sent as a `setup` saga would).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from kommerce.events.emitter import registry
from kommerce.events.outbox import OUTBOX
from kommerce.events.serde import decode
from services.inventory.app import create_app as inventory_app
from services.inventory.settings import InventorySettings
from services.order import events, orders, tracking
from services.order.app import create_app
from services.order.context import OrderContext
from services.order.settings import OrderSettings
from services.order.states import Actor, OrderStatus
from services.order.tables import ORDER_LINES, ORDERS, SHIPPING_METHODS
from services.payment_sandbox.app import create_app as sandbox_app
from services.payment_sandbox.settings import PaymentSandboxSettings
from tests.integration.apps import ensure_topics, serving
from tests.integration.order_topics import BERLIN, INVENTORY_SUBJECTS, ORDER_SUBJECTS, SAGA_TOPICS
from tests.integration.saga_driver import SagaDriver
from tests.tokens import TokenMinter

SETUP_REPLIES = "setup.replies.v1"
SECRET = "test-carrier-secret"


class Participants:
    """The real participants in-process: the inventory app (its saga participant consumes
    inventory.commands.v1) and the payment sandbox (payment.commands.v1), each with its own
    schema, consumer group and relay. `saga` (tests/integration/saga_driver.py) plays an
    orchestrator of saga type `setup` (replies on setup.replies.v1) to put orders in the state
    checkout leaves them in: stock reserved and committed, payment authorized."""

    def __init__(self, bootstrap: str, minter: TokenMinter) -> None:
        self.bootstrap = bootstrap
        self.merchant = minter.bearer(roles=["merchant"])
        self.staff = minter.bearer(roles=["support"])
        self.inventory: httpx.AsyncClient | None = None
        self.payments: httpx.AsyncClient | None = None
        self.warehouse = f"WH-{uuid.uuid4().hex[:8]}"
        self.saga = SagaDriver(
            bootstrap, replies=[SETUP_REPLIES], saga_type="setup", producer="test-setup"
        )

    async def on_hand(self, variant_id: str) -> int:
        assert self.inventory is not None
        r = await self.inventory.get(f"/v1/stock/{variant_id}", headers=self.merchant)
        assert r.status_code == 200, r.text
        return int(r.json()["on_hand"])

    async def payment(self, order_id: str) -> dict[str, Any]:
        assert self.payments is not None
        r = await self.payments.get(
            "/v1/payments", params={"order_id": order_id}, headers=self.staff
        )
        assert r.status_code == 200, r.text
        [found] = r.json()
        return dict(found)

    async def checkout_effects(
        self, order_id: str, customer_id: str, amount: int, currency: str, lines: list[Any]
    ) -> tuple[str, str]:
        """Stock (5 more than sold) reserved and committed, the payment authorized."""
        assert self.inventory is not None
        for variant, quantity in lines:
            r = await self.inventory.post(
                "/v1/stock/adjustments",
                json={
                    "variant_id": variant,
                    "warehouse_code": self.warehouse,
                    "delta": quantity + 5,
                    "reason": "received",
                },
                headers=self.merchant,
            )
            assert r.status_code in (200, 201), r.text
        wanted = [{"variant_id": v, "quantity": q} for v, q in lines]
        reserved = await self.saga.command(
            "inventory", "reserve_stock", {"order_id": order_id, "lines": wanted, "ship_to": None}
        )
        await self.saga.command(
            "inventory",
            "commit_stock",
            {"order_id": order_id, "reservation_id": reserved["reservation_id"]},
        )
        paid = await self.saga.command(
            "payment",
            "authorize_payment",
            {
                "order_id": order_id,
                "customer_id": customer_id,
                "amount_minor": amount,
                "currency": currency,
                "payment_method": "pm_card_visa",
            },
        )
        return reserved["reservation_id"], paid["payment_id"]


@pytest.fixture(scope="package")
def order_settings(stack_env: dict[str, str]) -> OrderSettings:
    suffix = uuid.uuid4().hex[:8]
    return OrderSettings(
        environment="test",
        schema_name=f"orders_t{suffix}",
        consumer_group=f"order-t{suffix}",
        saga_timeout_check_seconds=0.2,
        carrier_webhook_secret=SECRET,
        return_window_days=30,
        invoice_bucket=f"invoices-after-{suffix}",
        pool_size=10,
    )


class Running:
    def __init__(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        minter: TokenMinter,
        participants: Participants,
    ) -> None:
        self.app = app
        self.participants = participants
        self.client = client
        self.minter = minter
        self.merchant = minter.bearer(roles=["merchant"])
        self.support = minter.bearer(roles=["support"])

    @property
    def ctx(self) -> OrderContext:
        c: OrderContext = self.app.state.ctx
        return c

    async def emitted(self, event_type: str, order_id: str) -> list[dict[str, Any]]:
        """Payloads of `event_type` the service recorded in its outbox for this order."""
        topic = registry().subject(event_type).topic
        async with self.ctx.db.session() as s:
            rows = await s.execute(
                select(OUTBOX)
                .where(OUTBOX.c.topic == topic, OUTBOX.c.key == order_id.encode())
                .order_by(OUTBOX.c.id)
            )
            return [
                decode(
                    registry(),
                    key=r.key,
                    value=r.value,
                    headers={k: v for k, v in r.headers},
                ).payload
                for r in rows
            ]

    async def carrier(
        self,
        carrier: str,
        body: dict[str, Any],
        *,
        secret: str = SECRET,
        timestamp: int | None = None,
        tamper: bool = False,
    ) -> httpx.Response:
        raw = json.dumps(body).encode()
        header = tracking.sign(secret, raw, timestamp)
        if tamper:
            raw = raw.replace(b'"in_transit"', b'"delivered"')
        return await self.client.post(
            f"/v1/carriers/{carrier}/events",
            content=raw,
            headers={"Content-Type": "application/json", tracking.HEADER: header},
        )

    async def status(self, order_id: str) -> str:
        async with self.ctx.db.session() as s:
            return (await orders.load(s, uuid.UUID(order_id))).status.value

    async def shipped_order(self, **kw: Any) -> dict[str, Any]:
        """A paid order taken through fulfil and ship; returns it with its tracking number."""
        order = await self.paid_order(**kw)
        r = await self.client.post(f"/v1/orders/{order['id']}/fulfil", headers=self.merchant)
        assert r.status_code == 200, r.text
        number = f"TRK{uuid.uuid4().hex[:12].upper()}"
        r = await self.client.post(
            f"/v1/orders/{order['id']}/shipments",
            json={"carrier": "dhl", "tracking_number": number},
            headers=self.merchant,
        )
        assert r.status_code == 201, r.text
        return order | {"tracking_number": number, "shipment": r.json()}

    async def delivered_order(self, **kw: Any) -> dict[str, Any]:
        order = await self.shipped_order(**kw)
        r = await self.carrier(
            "dhl",
            {
                "event_id": f"evt-{uuid.uuid4()}",
                "tracking_number": order["tracking_number"],
                "status": "delivered",
                "occurred_at": datetime.now(UTC).isoformat(),
            },
        )
        assert r.status_code == 200, r.text
        assert r.json()["order_status"] == "delivered", r.text
        return order

    def shopper(self, customer_id: uuid.UUID) -> dict[str, str]:
        return self.minter.bearer(roles=["shopper"], user_id=str(customer_id))

    async def paid_order(
        self,
        *,
        lines: list[tuple[int, int, int, int]] | None = None,
        currency: str = "EUR",
        shipping_minor: int = 490,
        customer_id: uuid.UUID | None = None,
        real: bool = False,
    ) -> dict[str, Any]:
        """An order as checkout leaves it: paid. `lines`: (quantity, unit price, line discount,
        line tax) in minor units. `real`: its stock is reserved and committed and its payment
        authorized at the real participants (needed when a saga will talk to them)."""
        lines = lines or [(2, 1000, 200, 342), (1, 2500, 0, 475)]
        customer = customer_id or uuid.uuid4()
        order_id = uuid.uuid4()
        subtotal = sum(q * u for q, u, _, _ in lines)
        discount = sum(d for _, _, d, _ in lines)
        tax = sum(t for _, _, _, t in lines)
        total = subtotal - discount + tax + shipping_minor
        number = f"KO-T{uuid.uuid4().hex[:8].upper()}"
        variants = [uuid.uuid4() for _ in lines]
        placed_at = datetime.now(UTC)
        reservation_id, payment_id = f"res-{order_id}", f"pi_test_{order_id.hex[:12]}"
        if real:
            reservation_id, payment_id = await self.participants.checkout_effects(
                str(order_id),
                str(customer),
                total,
                currency,
                [(str(v), q) for v, (q, _, _, _) in zip(variants, lines, strict=True)],
            )
        address = {
            "name": "Ada",
            "line1": "1 Road",
            "city": "Berlin",
            "postal_code": "10115",
            "country": "DE",
        }
        async with self.ctx.db.session() as s:
            await s.execute(_shipping(currency))
            row = (
                (
                    await s.execute(
                        insert(ORDERS)
                        .values(
                            id=order_id,
                            number=number,
                            customer_id=customer,
                            email="ada@example.com",
                            locale="en_US",
                            status="pending",
                            currency=currency,
                            subtotal_minor=subtotal,
                            discount_minor=discount,
                            shipping_minor=shipping_minor,
                            tax_minor=tax,
                            total_minor=total,
                            shipping_method="standard",
                            shipping_address=address,
                            billing_address=address,
                            payment_method="pm_card_visa",
                            created_at=placed_at,
                        )
                        .returning(*ORDERS.c)
                    )
                )
                .mappings()
                .one()
            )
            await s.execute(
                insert(ORDER_LINES),
                [
                    {
                        "order_id": order_id,
                        "line_no": i + 1,
                        "variant_id": variants[i],
                        "product_id": uuid.uuid4(),
                        "sku": f"SKU-{i + 1}",
                        "name": f"Thing {i + 1}",
                        "quantity": q,
                        "unit_price_minor": u,
                        "discount_minor": d,
                        "tax_rate_bp": 1900,
                        "tax_minor": t,
                        "total_minor": q * u - d + t,
                    }
                    for i, (q, u, d, t) in enumerate(lines)
                ],
            )
            order = orders.Order(dict(row))
            await orders.record_creation(s, order, actor=str(customer))
            await events.emit(
                s,
                events.PLACED,
                {
                    "order_id": str(order_id),
                    "customer_id": str(customer),
                    "currency": currency,
                    "total_minor": total,
                    "lines": [
                        {
                            "variant_id": str(variants[i]),
                            "quantity": q,
                            "unit_price_minor": u,
                            "sku": f"SKU-{i + 1}",
                            "name": f"Thing {i + 1}",
                        }
                        for i, (q, u, _, _) in enumerate(lines)
                    ],
                    "number": number,
                    "placed_at": placed_at,
                },
            )
        async with self.ctx.db.session() as s:
            await orders.transition(
                s,
                order_id,
                OrderStatus.AWAITING_PAYMENT,
                actor="system:checkout",
                actor_kind=Actor.SYSTEM,
                changes={"reservation_id": reservation_id},
            )
        async with self.ctx.db.session() as s:
            await orders.transition(
                s,
                order_id,
                OrderStatus.PAID,
                actor="system:checkout",
                actor_kind=Actor.SYSTEM,
                changes={"payment_id": payment_id},
            )
        return {
            "id": str(order_id),
            "number": number,
            "customer_id": customer,
            "total_minor": total,
            "variants": [str(v) for v in variants],
            "payment_id": payment_id,
            "headers": self.shopper(customer),
        }


def _shipping(currency: str) -> Any:
    return (
        pg_insert(SHIPPING_METHODS)
        .values(
            code="standard",
            currency=currency,
            name="Standard",
            price_minor=490,
            min_days=2,
            max_days=4,
        )
        .on_conflict_do_nothing()
    )


@pytest.fixture(scope="package")
async def participants(
    stack_env: dict[str, str], minter: TokenMinter
) -> AsyncIterator[Participants]:
    bootstrap = stack_env["KOMMERCE_KAFKA_BOOTSTRAP"]
    await ensure_topics(bootstrap, INVENTORY_SUBJECTS, topics=[*SAGA_TOPICS, SETUP_REPLIES])
    suffix = uuid.uuid4().hex[:8]
    p = Participants(bootstrap, minter)
    await p.saga.start()
    inventory = inventory_app(
        InventorySettings(
            environment="test",
            schema_name=f"inventory_a{suffix}",
            consumer_group=f"inventory-a{suffix}",
            pool_size=5,
        ),
        auth=minter.authenticator(),
    )
    sandbox = sandbox_app(
        PaymentSandboxSettings(
            environment="test",
            schema_name=f"payment_sandbox_a{suffix}",
            consumer_group=f"payment-sandbox-a{suffix}",
        ),
        auth=minter.authenticator(),
    )
    async with (
        serving(inventory, base_url="http://inventory.test") as inv,
        serving(sandbox, base_url="http://payment-sandbox.test") as pay,
    ):
        p.inventory, p.payments = inv, pay
        r = await inv.post(
            "/v1/warehouses",
            json={
                "code": p.warehouse,
                "name": p.warehouse,
                "location": BERLIN,
                "country": "DE",
            },
            headers=p.merchant,
        )
        assert r.status_code == 201, r.text
        yield p
    await p.saga.stop()


@pytest.fixture(scope="package")
async def order_service(
    order_settings: OrderSettings,
    minter: TokenMinter,
    stack_env: dict[str, str],
    participants: Participants,
) -> AsyncIterator[Running]:
    bootstrap = stack_env["KOMMERCE_KAFKA_BOOTSTRAP"]
    await ensure_topics(bootstrap, ORDER_SUBJECTS, topics=[*SAGA_TOPICS, SETUP_REPLIES])
    app = create_app(order_settings, auth=minter.authenticator())
    async with serving(app, base_url="http://order.test") as client:
        yield Running(app, client, minter, participants)


@pytest.fixture
def svc(order_service: Running) -> Running:
    return order_service
