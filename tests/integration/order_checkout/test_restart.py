"""The order service is a real process (`kommerce service run order`), killed with SIGKILL in
the middle of a checkout saga — stock reserved, the payment command sent, nobody has answered —
and started again. The saga resumes from PostgreSQL and Kafka: the payment answer (the payment
sandbox comes up only now) completes it, and the stock was reserved exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from kommerce.data.db import Database
from kommerce.settings import KommerceSettings
from services.inventory.app import create_app as inventory_app
from services.inventory.settings import InventorySettings
from services.payment_sandbox.app import create_app as payment_app
from services.payment_sandbox.settings import PaymentSandboxSettings
from services.product.app import create_app as product_app
from services.product.settings import ProductSettings
from tests.helpers import KOMMERCE, REPO, free_port
from tests.integration.apps import ensure_topics, eventually, jwks_server, serving
from tests.integration.order_checkout.conftest import Shop
from tests.integration.order_topics import SAGA_TOPICS, SUBJECTS
from tests.tokens import ISSUER, TokenMinter

pytestmark = pytest.mark.integration


@contextmanager
def order_process(env: dict[str, str], port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [*KOMMERCE, "service", "run", "order", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            cwd=REPO,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def healthy(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    async def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"order exited with {proc.returncode}:\n{log.read_text()}")
        try:
            async with httpx.AsyncClient(timeout=1) as http:
                return (await http.get(f"{url}/readyz")).status_code == 200
        except httpx.HTTPError:
            return False

    await eventually(up, seconds=60, what="the order service to be ready")


async def test_order_service_killed_mid_saga_resumes(
    stack_env: dict[str, str], minter: TokenMinter, tmp_path: Path
) -> None:
    await ensure_topics(stack_env["KOMMERCE_KAFKA_BOOTSTRAP"], SUBJECTS, topics=SAGA_TOPICS)
    tag = uuid.uuid4().hex[:8]
    auth = minter.authenticator()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "order.log"
    async with AsyncExitStack() as stack:
        jwks_url = await stack.enter_async_context(jwks_server(minter))
        env = {
            "KOMMERCE_ENVIRONMENT": "test",
            "KOMMERCE_AUTH_JWKS_URL": jwks_url,
            "KOMMERCE_AUTH_ISSUER": ISSUER,
            "KOMMERCE_ORDER_SCHEMA_NAME": f"orders_r{tag}",
            "KOMMERCE_ORDER_CONSUMER_GROUP": f"order-r{tag}",
            "KOMMERCE_ORDER_PAYMENT_TIMEOUT_SECONDS": "60",
            "KOMMERCE_ORDER_SAGA_TIMEOUT_CHECK_SECONDS": "0.5",
        }
        product = product_app(
            ProductSettings(
                environment="test",
                schema_name=f"catalog_r{tag}",
                co_occurrence_enabled=False,
                image_dir=tmp_path,
            ),
            auth=auth,
        )
        inventory = inventory_app(
            InventorySettings(
                environment="test", schema_name=f"inventory_r{tag}", consumer_group=f"inv-r{tag}"
            ),
            auth=auth,
        )
        p = await stack.enter_async_context(serving(product, base_url="http://product.test"))
        i = await stack.enter_async_context(serving(inventory, base_url="http://inventory.test"))
        first = stack.enter_context(order_process(env, port, log))
        await healthy(first, url, log)
        o = await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=30))
        orders_db = Database(url=KommerceSettings().async_database_url(), schema=f"orders_r{tag}")
        stack.push_async_callback(orders_db.close)
        shop = Shop(p, i, o, orders_db, minter, tag, inventory.state.ctx.db)
        await shop.setup()

        variant = await shop.variant(stock=5)
        shopper = shop.shopper()
        await shop.add(shopper, variant, 2)
        r = await shop.checkout(shopper)
        assert r.status_code == 201, r.text
        order_id = r.json()["id"]

        async def awaiting_payment() -> bool:
            r = await o.get(f"/v1/orders/{order_id}/status", headers=shopper)
            return bool(r.json()["status"] == "awaiting_payment")

        await eventually(awaiting_payment, seconds=30, what="stock reserved")
        first.send_signal(signal.SIGKILL)  # mid-saga: the payment command is out, unanswered
        first.wait()
        assert await shop.stock(variant) == {"on_hand": 5, "reserved": 2}

        sandbox = payment_app(
            PaymentSandboxSettings(
                environment="test", schema_name=f"payment_r{tag}", consumer_group=f"pay-r{tag}"
            ),
            auth=auth,
        )
        pay = await stack.enter_async_context(serving(sandbox, base_url="http://payment.test"))
        second = stack.enter_context(order_process(env, port, log))
        await healthy(second, url, log)

        settled = await shop.settled(order_id, shopper, seconds=60)
        assert settled["status"] == "paid", (settled, log.read_text()[-3000:])
        [reservation] = await shop.reservations(order_id)
        assert reservation["status"] == "confirmed"
        assert await shop.stock(variant) == {"on_hand": 3, "reserved": 0}
        r = await pay.get(
            "/v1/payments",
            params={"order_id": order_id},
            headers=minter.bearer(roles=["support"]),
        )
        assert r.status_code == 200, r.text
        authorizations = len(r.json())
        assert authorizations == 1
