"""The checkout end to end: the real product, inventory, payment-sandbox and order services
in-process — each with its own schema, relay and consumers — on the test stack's PostgreSQL,
Redis and Kafka (`running_shop(payment="service")`: the real payment service and stripe-mock
instead of the sandbox; tests/integration/payment_checkout/). Products are created through
the product API, stock through the inventory API; the order service learns prices from
`product.changed`, reads availability from inventory over HTTP (an httpx client bound to the
inventory app), and the checkout saga talks to the participants through Kafka. Nothing is
produced by hand.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from sqlalchemy import select, text

from kommerce.data.db import Database
from kommerce.events.saga import show
from services.inventory.app import create_app as inventory_app
from services.inventory.settings import InventorySettings
from services.order.app import create_app as order_app
from services.order.orders import load
from services.order.settings import OrderSettings
from services.order.tables import CATALOG_VARIANTS
from services.payment.app import create_app as payment_service_app
from services.payment.settings import PaymentSettings
from services.payment_sandbox.app import create_app as payment_app
from services.payment_sandbox.settings import PaymentSandboxSettings
from services.product.app import create_app as product_app
from services.product.settings import ProductSettings
from tests.integration.apps import ensure_topics, eventually, serving
from tests.integration.order_topics import ADDRESS, BERLIN, SAGA_TOPICS, SUBJECTS
from tests.tokens import TokenMinter

FINAL = {"paid", "cancelled", "payment_failed"}


def order_settings(tag: str, **overrides: Any) -> OrderSettings:
    values: dict[str, Any] = {
        "environment": "test",
        "schema_name": f"orders_o{tag}",
        "consumer_group": f"order-o{tag}",
        "inventory_url": "http://inventory.test",
        "reserve_timeout_seconds": 15,
        "payment_timeout_seconds": 15,
        "step_retries": 1,
        "saga_timeout_check_seconds": 0.2,
        "order_stream_poll_seconds": 0.1,
    }
    return OrderSettings(**(values | overrides))


@dataclass
class Shop:
    product: httpx.AsyncClient
    inventory: httpx.AsyncClient
    order: httpx.AsyncClient
    orders_db: Database  # the order service's schema
    minter: TokenMinter
    tag: str
    inventory_db: Database
    order_ctx: Any = None  # the in-process order service's OrderContext
    merchant: dict[str, str] = field(default_factory=dict)
    warehouse: str = ""
    # the payment app (the sandbox, or the payment service) and, for the service, its schema
    payment: httpx.AsyncClient | None = None
    payment_db: Database | None = None

    async def setup(self) -> None:
        self.merchant = self.minter.bearer(roles=["merchant"])
        self.warehouse = f"w{self.tag}"
        r = await self.inventory.post(
            "/v1/warehouses",
            headers=self.merchant,
            json={"code": self.warehouse, "name": "Berlin", "location": BERLIN, "country": "DE"},
        )
        assert r.status_code == 201, r.text
        r = await self.order.put(
            "/v1/shipping-methods/standard/EUR",
            headers=self.merchant,
            json={"name": "Standard", "price_minor": 490, "min_days": 2, "max_days": 4},
        )
        assert r.status_code == 200, r.text
        r = await self.order.put(
            "/v1/tax-rates/DE", headers=self.merchant, json={"name": "VAT", "rate_bp": 1900}
        )
        assert r.status_code == 200, r.text

    async def variant(self, *, price_minor: int = 12900, stock: int = 10) -> str:
        """A new active product with one variant, `stock` units in the warehouse, known to
        inventory and to the order service's catalog."""
        word = f"item{uuid.uuid4().hex[:8]}"
        r = await self.product.post(
            "/v1/products",
            headers=self.merchant,
            json={
                "slug": word,
                "name": f"{word.capitalize()} Lamp",
                "status": "active",
                "category": ["Home", "Lighting"],
                "variants": [
                    {
                        "sku": word.upper(),
                        "name": "Brass",
                        "price": {"amount": price_minor, "currency": "EUR"},
                    }
                ],
            },
        )
        assert r.status_code == 201, r.text
        variant_id: str = r.json()["variants"][0]["id"]

        async def received() -> bool:
            r = await self.inventory.post(
                "/v1/stock/adjustments",
                headers=self.merchant,
                json={
                    "variant_id": variant_id,
                    "warehouse_code": self.warehouse,
                    "delta": stock,
                    "reason": "received",
                },
            )
            return r.status_code == 200

        if stock:
            await eventually(received, seconds=30, what="inventory to learn the variant")

        async def priced() -> bool:
            async with self.orders_db.session() as s:
                found = await s.execute(
                    select(CATALOG_VARIANTS.c.variant_id).where(
                        CATALOG_VARIANTS.c.variant_id == uuid.UUID(variant_id)
                    )
                )
                return found.first() is not None

        await eventually(priced, seconds=30, what="the order service to learn the price")
        return variant_id

    def shopper(self) -> dict[str, str]:
        return self.minter.bearer(roles=["shopper"], user_id=str(uuid.uuid4()))

    async def add(self, shopper: dict[str, str], variant_id: str, quantity: int = 1) -> None:
        r = await self.order.post(
            "/v1/cart/lines",
            headers=shopper,
            json={"variant_id": variant_id, "quantity": quantity},
        )
        assert r.status_code == 200, r.text

    async def checkout(
        self,
        shopper: dict[str, str],
        *,
        payment_method: str = "pm_card_visa",
        key: str | None = None,
        **body: Any,
    ) -> httpx.Response:
        return await self.order.post(
            "/v1/checkout",
            headers={**shopper, "Idempotency-Key": key or str(uuid.uuid4())},
            json={
                "email": "ada@example.com",
                "shipping_address": ADDRESS,
                "shipping_method": "standard",
                "payment_method": payment_method,
                **body,
            },
        )

    async def settled(
        self, order_id: str, shopper: dict[str, str], *, seconds: float = 45
    ) -> dict[str, Any]:
        async def final() -> dict[str, Any] | None:
            r = await self.order.get(f"/v1/orders/{order_id}/status", headers=shopper)
            assert r.status_code == 200, r.text
            body: dict[str, Any] = r.json()
            return body if body["status"] in FINAL else None

        result: dict[str, Any] = await eventually(
            final, seconds=seconds, what=f"order {order_id} to settle"
        )
        return result

    async def stock(self, variant_id: str) -> dict[str, int]:
        """on_hand and reserved of the variant in the shop's warehouse."""
        r = await self.inventory.get(f"/v1/stock/{variant_id}", headers=self.merchant)
        assert r.status_code == 200, r.text
        level = next(w for w in r.json()["warehouses"] if w["warehouse_code"] == self.warehouse)
        return {"on_hand": level["on_hand"], "reserved": level["reserved"]}

    async def sent_commands(self, order_id: str) -> list[str]:
        """What the order's saga sent, in order ("sent reserve_stock", ...)."""
        async with self.orders_db.session() as s:
            order = await load(s, uuid.UUID(order_id))
            saga = await show(s, order.row["saga_id"])
        assert saga is not None
        return [e["what"] for e in saga["log"] if e["what"].startswith("sent ")]

    async def reservations(self, order_id: str) -> list[dict[str, Any]]:
        """The inventory reservations made for this order (its key is order:<id>)."""
        async with self.inventory_db.session() as s:
            rows = await s.execute(
                text("SELECT id, status FROM reservations WHERE key = :k"),
                {"k": f"order:{order_id}"},
            )
            return [dict(r) for r in rows.mappings()]


@pytest.fixture(scope="module")
async def shop(
    stack_env: dict[str, str], minter: TokenMinter, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Shop]:
    async with running_shop(stack_env, minter, tmp_path_factory.mktemp("shop")) as s:
        yield s


def running_shop(
    stack_env: dict[str, str],
    minter: TokenMinter,
    tmp: Path,
    *,
    payment: bool | Literal["service"] = True,
    payment_overrides: dict[str, Any] | None = None,
    **order_overrides: Any,
) -> Any:
    """The four services running (`payment=False`: the payment service is down; `"service"`:
    the real payment service, with `payment_overrides` for its PaymentSettings, instead of the
    sandbox). Whatever answers payment.commands.v1 stops with the shop: keep the shop's fixture
    module- or package-scoped, so that two payment participants never answer one topic."""
    return _ShopRunner(stack_env, minter, tmp, payment, order_overrides, payment_overrides or {})


class _ShopRunner:
    def __init__(
        self,
        stack_env: dict[str, str],
        minter: TokenMinter,
        tmp: Path,
        payment: bool | Literal["service"],
        order_overrides: dict[str, Any],
        payment_overrides: dict[str, Any] | None = None,
    ) -> None:
        self.stack_env, self.minter, self.tmp = stack_env, minter, tmp
        self.payment, self.order_overrides = payment, order_overrides
        self.payment_overrides = payment_overrides or {}
        self.stack = AsyncExitStack()

    async def __aenter__(self) -> Shop:
        await ensure_topics(
            self.stack_env["KOMMERCE_KAFKA_BOOTSTRAP"], SUBJECTS, topics=SAGA_TOPICS
        )
        tag = uuid.uuid4().hex[:8]
        auth = self.minter.authenticator()
        product = product_app(
            ProductSettings(
                environment="test",
                schema_name=f"catalog_o{tag}",
                co_occurrence_enabled=False,
                image_dir=self.tmp,
            ),
            auth=auth,
        )
        inventory = inventory_app(
            InventorySettings(
                environment="test",
                schema_name=f"inventory_o{tag}",
                consumer_group=f"inv-o{tag}",
                sweep_interval_seconds=0.5,
            ),
            auth=auth,
        )
        to_inventory = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=inventory), base_url="http://inventory.test"
        )
        await self.stack.enter_async_context(to_inventory)
        order = order_app(order_settings(tag, **self.order_overrides), auth=auth, http=to_inventory)
        p = await self.stack.enter_async_context(serving(product, base_url="http://product.test"))
        i = await self.stack.enter_async_context(
            serving(inventory, base_url="http://inventory.test")
        )
        pay: httpx.AsyncClient | None = None
        pay_db: Database | None = None
        if self.payment == "service":
            service = payment_service_app(
                PaymentSettings(
                    **{
                        "environment": "test",
                        "schema_name": f"payments_o{tag}",
                        "consumer_group": f"payment-o{tag}",
                        **self.payment_overrides,
                    }
                ),
                auth=auth,
            )
            pay = await self.stack.enter_async_context(
                serving(service, base_url="http://payment.test")
            )
            pay_db = service.state.db
        elif self.payment:
            sandbox = payment_app(
                PaymentSandboxSettings(
                    environment="test",
                    schema_name=f"payment_o{tag}",
                    consumer_group=f"pay-o{tag}",
                ),
                auth=auth,
            )
            pay = await self.stack.enter_async_context(
                serving(sandbox, base_url="http://payment.test")
            )
        o = await self.stack.enter_async_context(serving(order, base_url="http://order.test"))
        shop = Shop(
            p, i, o, order.state.ctx.db, self.minter, tag, inventory.state.ctx.db, order.state.ctx
        )
        shop.payment, shop.payment_db = pay, pay_db
        await shop.setup()
        return shop

    async def __aexit__(self, *exc: object) -> None:
        await self.stack.aclose()


async def gather(*calls: Any) -> list[Any]:
    return list(await asyncio.gather(*calls))
