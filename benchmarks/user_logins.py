"""Benchmark: whole sign-ins per second through the user service, against the password check
alone measured in the same run.

A login is `POST /v1/auth/login` through the real app (in-process over ASGI): rate limits and
lockout in Redis, the user row from PostgreSQL, argon2id verify (service defaults), a refresh
token and audit row written, the session in Redis, an EdDSA access token signed. The baseline
is the argon2id verify alone with the same parameters and the same concurrency, so the ratio
shows what everything around the hash costs. Starts its own PostgreSQL and Redis
(state `bench-logins`, port offset 900) and stops them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx

from benchmarks.common import bench_servers, quantile, say

PASSWORD = "correct horse battery staple"  # noqa: S105  # nosec B105: benchmark users


async def logins(users: int, seconds: float, concurrency: int) -> tuple[float, list[float]]:
    from sqlalchemy import text

    from services.user.app import create_app
    from services.user.settings import UserSettings

    settings = UserSettings(
        environment="test",
        schema_name=f"bench_users_{uuid.uuid4().hex[:6]}",
        secret_key="bench-secret-key-" + uuid.uuid4().hex,
        login_per_ip_per_minute=1_000_000,
        login_per_account_per_minute=1_000_000,
    )
    app = create_app(settings)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    try:
        c = app.state.ctx
        stored = await c.hasher.hash(PASSWORD)
        emails = [f"bench{i}@example.com" for i in range(users)]
        async with c.db.session() as session:
            for address in emails:
                await session.execute(
                    text("INSERT INTO users (id, email, password_hash) VALUES (:i, :e, :h)"),
                    {"i": uuid.uuid4(), "e": address, "h": stored},
                )
        transport = httpx.ASGITransport(app=app, client=("192.0.2.10", 40000))
        latencies: list[float] = []
        async with httpx.AsyncClient(transport=transport, base_url="http://user.bench") as client:
            deadline = time.perf_counter() + seconds
            done = 0

            async def worker(offset: int) -> None:
                nonlocal done
                i = offset
                while time.perf_counter() < deadline:
                    started = time.perf_counter()
                    r = await client.post(
                        "/v1/auth/login",
                        json={"email": emails[i % users], "password": PASSWORD},
                    )
                    latencies.append(time.perf_counter() - started)
                    if r.status_code != 200:
                        raise RuntimeError(f"login failed: {r.status_code} {r.text}")
                    done += 1
                    i += concurrency

            started = time.perf_counter()
            await asyncio.gather(*(worker(k) for k in range(concurrency)))
            elapsed = time.perf_counter() - started
        return done / elapsed, latencies
    finally:
        await lifespan.__aexit__(None, None, None)


def password_only(seconds: float, concurrency: int) -> tuple[float, list[float]]:
    from services.user.passwords import Hasher
    from services.user.settings import Argon2Parameters

    hasher = Hasher(Argon2Parameters())
    stored = hasher.hash_sync(PASSWORD)
    deadline = time.perf_counter() + seconds

    def loop() -> list[float]:
        out = []
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            assert hasher.verify_sync(stored, PASSWORD).ok
            out.append(time.perf_counter() - started)
        return out

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(lambda _: loop(), range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies = [x for r in results for x in r]
    return len(latencies) / elapsed, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--port-offset", type=int, default=900)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    with bench_servers("bench-logins", port_offset=args.port_offset, servers=["postgres", "redis"]):
        from services.user.settings import Argon2Parameters

        p = Argon2Parameters()
        say(
            f"argon2id time_cost={p.time_cost} memory={p.memory_cost_kib:,} KiB "
            f"parallelism={p.parallelism}; {cores} CPU(s); concurrency {args.concurrency}"
        )
        say(f"password check alone, {args.seconds:g} s ...")
        base_rate, base_lat = password_only(args.seconds, args.concurrency)
        say(f"POST /v1/auth/login through the app, {args.seconds:g} s ...")
        rate, lat = asyncio.run(logins(args.users, args.seconds, args.concurrency))
    ms = 1000.0
    for label, r, values in (("password check", base_rate, base_lat), ("whole login", rate, lat)):
        say(
            f"{label:<15}: {r:6.1f}/s ({r / cores:5.1f} per core)  latency p50 "
            f"{quantile(values, 0.5) * ms:6.1f} ms  p99 {quantile(values, 0.99) * ms:6.1f} ms"
            f"  (mean {statistics.fmean(values) * ms:.1f})"
        )
    say(f"ratio whole login / password check: {rate / base_rate:.2f} (1.0 = the hash is all)")


if __name__ == "__main__":
    main()
