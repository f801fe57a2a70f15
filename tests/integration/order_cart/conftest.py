"""Fixtures for the cart: the real order app and the real inventory app in-process on the test
stack's PostgreSQL and Redis (each session its own schemas), the order app reaching inventory's
availability API over ASGI. Catalog rows come from the order service's own projection handlers
(`services.order.catalog`) fed product events; stock from inventory's API."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.inventory.app import create_app as inventory_app
from services.inventory.settings import InventorySettings
from services.order import catalog
from services.order.app import create_app as order_app
from services.order.context import OrderContext
from services.order.settings import OrderSettings
from tests.integration.apps import serving
from tests.tokens import TokenMinter

MAX_LINES, MAX_QUANTITY, TTL = 5, 10, 600


@pytest.fixture(scope="package")
def cart_settings(stack_env: dict[str, str]) -> OrderSettings:
    tag = uuid.uuid4().hex[:8]
    return OrderSettings(
        environment="test",
        schema_name=f"orders_c{tag}",
        consumer_group=f"order-c{tag}",
        relay_enabled=False,
        consumer_enabled=False,
        inventory_url="http://inventory.test",
        cart_max_lines=MAX_LINES,
        cart_max_quantity=MAX_QUANTITY,
        cart_ttl_seconds=TTL,
    )


class Inventory:
    def __init__(self, app: FastAPI, client: httpx.AsyncClient, minter: TokenMinter) -> None:
        self.app = app
        self.client = client
        self.merchant = minter.bearer(roles=["merchant"])
        self.warehouse = ""

    async def stock(self, variant_id: str, quantity: int) -> None:
        if not self.warehouse:
            self.warehouse = f"WH-{uuid.uuid4().hex[:8]}"
            r = await self.client.post(
                "/v1/warehouses",
                json={
                    "code": self.warehouse,
                    "name": "Cart tests",
                    "location": {"latitude": 52.52, "longitude": 13.405},
                    "country": "DE",
                },
                headers=self.merchant,
            )
            assert r.status_code == 201, r.text
        r = await self.client.post(
            "/v1/stock/adjustments",
            json={
                "variant_id": variant_id,
                "warehouse_code": self.warehouse,
                "delta": quantity,
                "reason": "received",
            },
            headers=self.merchant,
        )
        assert r.status_code in (200, 201), r.text


@pytest.fixture(scope="package")
async def inventory(stack_env: dict[str, str], minter: TokenMinter) -> AsyncIterator[Inventory]:
    tag = uuid.uuid4().hex[:8]
    settings = InventorySettings(
        environment="test",
        schema_name=f"inventory_c{tag}",
        consumer_group=f"inventory-c{tag}",
        relay_enabled=False,
        consumer_enabled=False,
        sweeper_enabled=False,
    )
    app = inventory_app(settings, auth=minter.authenticator())
    async with serving(app, base_url="http://inventory.test") as client:
        yield Inventory(app, client, minter)


class Shop:
    """The order app with helpers to put products in its catalog and stock in inventory."""

    def __init__(
        self, app: FastAPI, client: httpx.AsyncClient, inventory: Inventory, minter: TokenMinter
    ) -> None:
        self.app = app
        self.client = client
        self.inventory = inventory
        self.minter = minter
        self.merchant = minter.bearer(roles=["merchant"])

    @property
    def ctx(self) -> OrderContext:
        c: OrderContext = self.app.state.ctx
        return c

    async def product(
        self,
        prices: list[int],
        currency: str = "EUR",
        *,
        status: str = "active",
        stock: int | None = 100,
        name: str = "Rain Jacket",
    ) -> list[str]:
        """A product with one variant per price in the catalog (version 1), and stock."""
        product_id = str(uuid.uuid4())
        variants: list[dict[str, Any]] = [
            {
                "variant_id": str(uuid.uuid4()),
                "sku": f"SKU-{uuid.uuid4().hex[:8]}",
                "name": f"V{i}",
                "price_amount": p,
                "currency": currency,
            }
            for i, p in enumerate(prices)
        ]
        await self.project(product_id, 1, variants, status=status, name=name)
        ids = [str(v["variant_id"]) for v in variants]
        if stock is not None:
            for v in ids:
                await self.inventory.stock(v, stock)
        return ids

    async def project(
        self,
        product_id: str,
        version: int,
        variants: list[dict[str, Any]],
        *,
        status: str = "active",
        name: str = "Rain Jacket",
    ) -> None:
        async with self.ctx.db.session() as session:
            await catalog.apply_changed(
                session,
                {
                    "product_id": product_id,
                    "version": version,
                    "change": "created" if version == 1 else "updated",
                    "slug": "p",
                    "name": name,
                    "status": status,
                    "variants": variants,
                    "changed_at": datetime.now(UTC),
                },
            )

    def user(self, user_id: str | None = None) -> dict[str, str]:
        return self.minter.bearer(roles=["shopper"], user_id=user_id or str(uuid.uuid4()))

    async def add(
        self, variant_id: str, quantity: int = 1, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.client.post(
            "/v1/cart/lines",
            json={"variant_id": variant_id, "quantity": quantity},
            headers=headers or {},
        )


@pytest.fixture(scope="package")
async def shop(
    cart_settings: OrderSettings, inventory: Inventory, minter: TokenMinter
) -> AsyncIterator[Shop]:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=inventory.app), timeout=5.0)
    app = order_app(cart_settings, auth=minter.authenticator(), http=http)
    async with serving(app, base_url="http://order.test") as client:
        yield Shop(app, client, inventory, minter)


def guest(token: str) -> dict[str, str]:
    return {"X-Cart-Token": token}
