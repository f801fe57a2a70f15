"""Benchmark: checkouts per second through the order service, against pgbench's built-in
TPC-B-like script on the same PostgreSQL with the same number of clients, in the same run.

Each checkout is `POST /v1/checkout` through the real order app (in-process over ASGI): the
Idempotency-Key insert, the cart from Redis, prices from the catalog projection, availability
from the inventory service over HTTP, the order, lines, history, `order.placed` and
`order.status_changed` and the saga's first command in the outbox, the key's stored response.
Meanwhile the order service's own relay and consumer run in the same process and the saga
participants run as real processes (`kommerce service run inventory`, `payment-sandbox`; and
`product` for the catalogue), settling every order (reserve → authorize → commit), as deployed.
Carts are filled before the clock starts. `--no-saga` stops the order service's relay and
consumer first: the checkout request alone.

The baseline: `pgbench -b tpcb-like` (scale 1, its own schema) with the same client count for
the same number of seconds. Prints both rates, p50/p99 latencies, the ratio, and how long the
sagas took to settle every order. Starts its own PostgreSQL, Redis and Kafka (state
`bench-checkout`, port offset 1450) and stops them. About two minutes with the defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from contextlib import AsyncExitStack
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from benchmarks.common import bench_servers, quantile, say
from tests.integration.order_topics import ADDRESS, BERLIN, SAGA_TOPICS, SUBJECTS

STOCK = 1_000_000_000


def pgbench(dsn: str, clients: int, seconds: float) -> tuple[float, list[float]]:
    """tpcb-like transactions per second and per-transaction latencies (seconds)."""
    binary = shutil.which("pgbench")
    if binary is None:
        raise SystemExit("pgbench is not installed (Debian: postgresql-client); see docs/tools.md")
    url = urlsplit(dsn)
    env = {
        **os.environ,
        "PGHOST": url.hostname or "127.0.0.1",
        "PGPORT": str(url.port or 5432),
        "PGUSER": url.username or "kommerce",
        "PGPASSWORD": url.password or "",
        "PGDATABASE": url.path.lstrip("/") or "kommerce",
        "PGOPTIONS": "-c search_path=bench_pgbench",
    }
    init = subprocess.run(  # nosec B603: our own arguments
        [binary, "-i", "-s", "1", "-q", "--init-steps=dtgvp"],
        env=env,
        check=False,
        capture_output=True,
        text=True,
    )
    if init.returncode != 0:
        raise SystemExit(f"pgbench -i failed:\n{init.stderr}")
    with tempfile.TemporaryDirectory() as logs:
        done = subprocess.run(  # nosec B603: our own arguments
            [
                binary,
                "-b",
                "tpcb-like",
                "-c",
                str(clients),
                "-j",
                str(min(clients, os.cpu_count() or 1)),
                "-T",
                str(int(seconds)),
                "-l",
                "--log-prefix",
                str(Path(logs) / "tx"),
            ],
            env=env,
            check=False,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise SystemExit(f"pgbench failed:\n{done.stderr}")
        found = re.search(r"tps = ([0-9.]+)", done.stdout)
        if found is None:
            raise SystemExit(f"pgbench printed no tps:\n{done.stdout}")
        latencies = [
            int(line.split()[2]) / 1e6
            for log in Path(logs).glob("tx*")
            for line in log.read_text().splitlines()
            if line.strip()
        ]
    return float(found.group(1)), latencies


async def run(
    clients: int,
    seconds: float,
    products: int,
    orders: int,
    profile: str | None = None,
    saga: bool = True,
) -> None:
    from sqlalchemy import func, select

    from kommerce.settings import KommerceSettings
    from services.order.app import create_app as order_app
    from services.order.settings import OrderSettings
    from services.order.tables import CATALOG_VARIANTS, ORDERS
    from tests.helpers import free_port, running_service
    from tests.integration.apps import ensure_topics, eventually, jwks_server, serving
    from tests.tokens import ISSUER, TokenMinter

    env = KommerceSettings()
    assert env.kafka_bootstrap is not None
    await ensure_topics(env.kafka_bootstrap, SUBJECTS, topics=SAGA_TOPICS)
    minter = TokenMinter()
    auth = minter.authenticator()
    tag = uuid.uuid4().hex[:6]
    quiet: dict[str, Any] = {"environment": "test", "log_level": "WARNING"}
    async with AsyncExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        jwks_url = await stack.enter_async_context(jwks_server(minter))
        common = {
            "KOMMERCE_ENVIRONMENT": "test",
            "KOMMERCE_LOG_LEVEL": "WARNING",
            "KOMMERCE_AUTH_JWKS_URL": jwks_url,
            "KOMMERCE_AUTH_ISSUER": ISSUER,
        }
        # the other services as real processes, as deployed: their consumers and relays do not
        # share the order service's event loop
        ports: dict[str, int] = {}
        for name, extra in (
            (
                "product",
                {
                    "KOMMERCE_PRODUCT_SCHEMA_NAME": f"bench_catalog_{tag}",
                    "KOMMERCE_PRODUCT_CO_OCCURRENCE_ENABLED": "false",
                    "KOMMERCE_PRODUCT_IMAGE_DIR": str(tmp),
                },
            ),
            (
                "inventory",
                {
                    "KOMMERCE_INVENTORY_SCHEMA_NAME": f"bench_inventory_{tag}",
                    "KOMMERCE_INVENTORY_CONSUMER_GROUP": f"inv-{tag}",
                },
            ),
            (
                "payment-sandbox",
                {
                    "KOMMERCE_PAYMENT_SANDBOX_SCHEMA_NAME": f"bench_payment_{tag}",
                    "KOMMERCE_PAYMENT_SANDBOX_CONSUMER_GROUP": f"pay-{tag}",
                },
            ),
        ):
            ports[name] = free_port()
            say(f"starting {name} on 127.0.0.1:{ports[name]} ...")
            stack.enter_context(
                running_service(name, port=ports[name], env=common | extra, log=tmp / f"{name}.log")
            )
        order = order_app(
            OrderSettings(
                **quiet,
                schema_name=f"bench_orders_{tag}",
                consumer_group=f"order-{tag}",
                inventory_url=f"http://127.0.0.1:{ports['inventory']}",
                pool_size=max(10, clients + 4),
                invoicing_enabled=saga,
            ),
            auth=auth,
        )
        p = await stack.enter_async_context(
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports['product']}", timeout=30)
        )
        i = await stack.enter_async_context(
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports['inventory']}", timeout=30)
        )
        o = await stack.enter_async_context(serving(order, base_url="http://order.bench"))
        merchant = minter.bearer(roles=["merchant"])
        r = await i.post(
            "/v1/warehouses",
            headers=merchant,
            json={"code": "BER", "name": "Berlin", "location": BERLIN, "country": "DE"},
        )
        assert r.status_code == 201, r.text
        for path, body in (
            (
                "/v1/shipping-methods/standard/EUR",
                {"name": "Standard", "price_minor": 490, "min_days": 2, "max_days": 4},
            ),
            ("/v1/tax-rates/DE", {"name": "VAT", "rate_bp": 1900}),
        ):
            r = await o.put(path, headers=merchant, json=body)
            assert r.status_code == 200, r.text

        say(f"creating {products} products with stock ...")
        variants: list[str] = []
        for n in range(products):
            r = await p.post(
                "/v1/products",
                headers=merchant,
                json={
                    "slug": f"bench-{tag}-{n}",
                    "name": f"Bench lamp {n}",
                    "status": "active",
                    "category": ["Home"],
                    "variants": [
                        {
                            "sku": f"BENCH-{tag}-{n}".upper(),
                            "price": {"amount": 1000 + n, "currency": "EUR"},
                        }
                    ],
                },
            )
            assert r.status_code == 201, r.text
            variants.append(r.json()["variants"][0]["id"])

        async def stocked(variant_id: str) -> bool:
            r = await i.post(
                "/v1/stock/adjustments",
                headers=merchant,
                json={
                    "variant_id": variant_id,
                    "warehouse_code": "BER",
                    "delta": STOCK,
                    "reason": "received",
                },
            )
            return r.status_code == 200

        for v in variants:
            await eventually(partial(stocked, v), seconds=60, what="inventory to learn it")
        db = order.state.ctx.db

        async def priced() -> bool:
            ours = [uuid.UUID(v) for v in variants]  # the topics hold earlier runs' products too
            async with db.session() as s:
                n = (
                    await s.execute(
                        select(func.count())
                        .select_from(CATALOG_VARIANTS)
                        .where(CATALOG_VARIANTS.c.variant_id.in_(ours))
                    )
                ).scalar()
            return bool(n == products)

        await eventually(priced, seconds=60, what="the order service to learn the prices")
        if not saga:  # the checkout request alone: nothing leaves the outbox, no saga moves
            await order.state.background.stop()

        say(f"filling {orders} carts ...")
        shoppers = [minter.bearer(roles=["shopper"]) for _ in range(orders)]
        for n, shopper in enumerate(shoppers):
            r = await o.post(
                "/v1/cart/lines",
                headers=shopper,
                json={"variant_id": variants[n % len(variants)], "quantity": 1 + n % 3},
            )
            assert r.status_code == 200, r.text

        say(
            f"checkout: {clients} clients, up to {orders} orders or {seconds:g} s, "
            f"{os.cpu_count()} CPU(s), saga participants running ..."
        )
        queue = list(shoppers)
        latencies: list[float] = []
        deadline = time.perf_counter() + seconds

        async def client() -> None:
            while queue and time.perf_counter() < deadline:
                shopper = queue.pop()
                started = time.perf_counter()
                r = await o.post(
                    "/v1/checkout",
                    headers={**shopper, "Idempotency-Key": str(uuid.uuid4())},
                    json={
                        "email": "bench@example.com",
                        "shipping_address": ADDRESS,
                        "shipping_method": "standard",
                        "payment_method": "pm_card_visa",
                    },
                )
                if r.status_code != 201:
                    raise RuntimeError(f"checkout failed: {r.status_code} {r.text}")
                latencies.append(time.perf_counter() - started)

        profiler = cProfile.Profile() if profile else None
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
        if profiler:
            profiler.disable()
            profiler.dump_stats(str(profile))
            say(f"profile of the checkout phase written to {profile} (python -m pstats)")
        rate = len(latencies) / elapsed

        say("waiting for the sagas to settle every order ...")

        async def settled() -> dict[str, int] | None:
            async with db.session() as s:
                rows = await s.execute(
                    select(ORDERS.c.status, func.count()).group_by(ORDERS.c.status)
                )
                counts = {status: n for status, n in rows.all()}
            pending = counts.get("pending", 0) + counts.get("awaiting_payment", 0)
            return None if pending else counts

        counts: dict[str, Any] = (
            await eventually(settled, seconds=600, what="every order settled")
            if saga
            else {"pending (saga off)": len(latencies)}
        )
        settle_time = time.perf_counter() - started

    say(f"pgbench tpcb-like: {clients} clients, {seconds:g} s ...")
    async with order.state.ctx.db.engine.begin() as conn:  # pgbench's tables go here
        await conn.exec_driver_sql("CREATE SCHEMA IF NOT EXISTS bench_pgbench")
    tps, pg_latencies = await asyncio.to_thread(pgbench, str(env.database_url), clients, seconds)
    ms = 1000.0
    say(
        f"checkout           : {rate:8.1f} orders/s  p50 {quantile(latencies, 0.5) * ms:7.1f} ms  "
        f"p99 {quantile(latencies, 0.99) * ms:7.1f} ms  ({len(latencies)} orders)"
    )
    say(
        f"pgbench tpcb-like  : {tps:8.1f} tx/s      "
        f"p50 {quantile(pg_latencies, 0.5) * ms:7.1f} ms  "
        f"p99 {quantile(pg_latencies, 0.99) * ms:7.1f} ms  ({len(pg_latencies)} transactions)"
    )
    say(f"ratio checkout / pgbench: {rate / tps:.3f} (goal >= 0.5)")
    say(f"orders settled by the saga: {counts} within {settle_time:.1f} s of the first checkout")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--products", type=int, default=20)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--port-offset", type=int, default=1450)
    parser.add_argument("--profile", help="write a cProfile of the checkout phase to this file")
    parser.add_argument(
        "--no-saga",
        dest="saga",
        action="store_false",
        help="stop the order service's relay and consumer once the catalogue is known: the "
        "checkout request alone, without the saga's work in the same process",
    )
    args = parser.parse_args()
    with bench_servers(
        "bench-checkout", port_offset=args.port_offset, servers=["postgres", "redis", "kafka"]
    ):
        asyncio.run(
            run(
                args.clients,
                args.seconds,
                args.products,
                args.orders,
                args.profile,
                args.saga,
            )
        )


if __name__ == "__main__":
    main()
