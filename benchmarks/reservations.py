"""Benchmark: reservations per second under contention, against the bare conditional UPDATE
measured in the same run.

Many concurrent clients reserve one unit each (a fresh checkout key per reservation) from a few
variants, so they queue on the same variant rows. Three runs at the same concurrency:

1. `POST /v1/reservations` through the real app (in-process over ASGI): auth, validation, the
   lazy expiry sweep, the idempotency-key insert, the variant lock, allocation, the conditional
   UPDATE, the movement row, the allocation row, the stock_changed and stock_reserved outbox rows,
   the Redis write-through;
2. `reservations.reserve()` alone (the domain function, no HTTP);
3. the baseline: only `UPDATE stock_levels SET reserved = reserved + 1 WHERE ... AND
   on_hand - reserved >= 1` via asyncpg (autocommit), on the same rows.

Prints reservations/s, p50/p99 and the ratios. Starts its own PostgreSQL and Redis (state
`bench-reservations`, port offset 1250; no Kafka: the relay and consumer are off, the outbox
just fills) and stops them. About a minute with the defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
import uuid
from collections.abc import Awaitable, Callable

import httpx

from benchmarks.common import bench_servers, quantile, say

STOCK = 1_000_000_000


async def timed_workers(
    concurrency: int, seconds: float, once: Callable[[int], Awaitable[None]]
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker(k: int) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await once(k)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    return len(latencies) / (time.perf_counter() - started), latencies


async def run(variants: int, warehouses: int, seconds: float, concurrency: int) -> None:
    import asyncpg

    from services.inventory import reservations
    from services.inventory.app import create_app
    from services.inventory.settings import InventorySettings
    from tests.tokens import TokenMinter

    schema = f"bench_inventory_{uuid.uuid4().hex[:6]}"
    settings = InventorySettings(
        environment="test",
        schema_name=schema,
        relay_enabled=False,
        consumer_enabled=False,
        pool_size=concurrency,
        log_level="WARNING",
    )
    minter = TokenMinter()
    app = create_app(settings, auth=minter.authenticator())
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    rng = random.Random(7)  # noqa: S311  # nosec B311: picking variants
    ids = [str(uuid.uuid4()) for _ in range(variants)]
    headers = minter.bearer(roles=["merchant"])
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://inventory.bench"
        ) as client:
            for w in range(warehouses):
                r = await client.post(
                    "/v1/warehouses",
                    json={
                        "code": f"WH{w}",
                        "name": f"Warehouse {w}",
                        "location": {"latitude": 50.0 + w, "longitude": 8.0 + w},
                        "country": "DE",
                    },
                    headers=headers,
                )
                assert r.status_code == 201, r.text
                for v in ids:
                    r = await client.post(
                        "/v1/stock/adjustments",
                        json={
                            "variant_id": v,
                            "warehouse_code": f"WH{w}",
                            "delta": STOCK,
                            "reason": "received",
                        },
                        headers=headers,
                    )
                    assert r.status_code == 200, r.text
            say(
                f"{variants} variant(s) x {warehouses} warehouse(s), concurrency {concurrency}, "
                f"{seconds:g} s per run, {os.cpu_count()} CPU(s)"
            )

            async def via_http(k: int) -> None:
                r = await client.post(
                    "/v1/reservations",
                    json={
                        "key": str(uuid.uuid4()),
                        "lines": [{"variant_id": rng.choice(ids), "quantity": 1}],
                        "strategy": "most_stock",
                    },
                    headers=headers,
                )
                if r.status_code != 201:
                    raise RuntimeError(f"reserve failed: {r.status_code} {r.text}")

            say("1. POST /v1/reservations through the app ...")
            http_rate, http_lat = await timed_workers(concurrency, seconds, via_http)

            ctx = app.state.ctx

            async def via_domain(k: int) -> None:
                await reservations.reserve(
                    ctx.db,
                    reservations.ReserveRequest(
                        key=str(uuid.uuid4()),
                        lines={uuid.UUID(rng.choice(ids)): 1},
                        ttl_seconds=900,
                        strategy="most_stock",
                        actor="bench",
                    ),
                )

            say("2. reservations.reserve() alone ...")
            domain_rate, domain_lat = await timed_workers(concurrency, seconds, via_domain)

        dsn = str(settings.database_url)
        pool = await asyncpg.create_pool(
            dsn,
            min_size=concurrency,
            max_size=concurrency,
            server_settings={"search_path": schema},
        )
        assert pool is not None
        levels = [
            (r["variant_id"], r["warehouse_id"])
            for r in await pool.fetch("SELECT variant_id, warehouse_id FROM stock_levels")
        ]

        async def raw(k: int) -> None:
            variant_id, warehouse_id = rng.choice(levels)
            status = await pool.execute(
                "UPDATE stock_levels SET reserved = reserved + 1 WHERE variant_id = $1 "
                "AND warehouse_id = $2 AND on_hand - reserved >= 1",
                variant_id,
                warehouse_id,
            )
            if status != "UPDATE 1":
                raise RuntimeError(status)

        say("3. baseline: the conditional UPDATE alone (asyncpg) ...")
        raw_rate, raw_lat = await timed_workers(concurrency, seconds, raw)
        negative = await pool.fetchval(
            "SELECT count(*) FROM stock_levels WHERE on_hand - reserved < 0 OR reserved < 0"
        )
        await pool.close()
    finally:
        await lifespan.__aexit__(None, None, None)

    ms = 1000.0
    for label, rate, lat in (
        ("POST /v1/reservations", http_rate, http_lat),
        ("reserve() alone", domain_rate, domain_lat),
        ("conditional UPDATE", raw_rate, raw_lat),
    ):
        say(
            f"{label:<22}: {rate:8.1f}/s  latency p50 {quantile(lat, 0.5) * ms:6.1f} ms  "
            f"p99 {quantile(lat, 0.99) * ms:6.1f} ms  ({len(lat)} reservations)"
        )
    say(f"ratio POST /v1/reservations / conditional UPDATE: {http_rate / raw_rate:.3f}")
    say(f"ratio reserve() alone / conditional UPDATE: {domain_rate / raw_rate:.3f}")
    say(f"stock levels below zero afterwards: {negative}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--variants", type=int, default=4)
    parser.add_argument("--warehouses", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--port-offset", type=int, default=1250)
    args = parser.parse_args()
    with bench_servers(
        "bench-reservations", port_offset=args.port_offset, servers=["postgres", "redis"]
    ):
        asyncio.run(run(args.variants, args.warehouses, args.seconds, args.concurrency))


if __name__ == "__main__":
    main()
