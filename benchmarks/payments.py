"""Benchmark: the payment service's authorization latency and webhook throughput, against direct
stripe-mock calls through the same `stripe` SDK setup, measured in the same run.

The service runs as a real process (`kommerce service run payment`, one uvicorn worker, its
outbox relay publishing to Kafka, the saga consumer off), reached over loopback HTTP by clients
in this process, so the numbers include what a deployment pays (the HTTP server, JWT checks,
Redis idempotency, PostgreSQL, the relay) and the load generator does not share the service's
event loop. The baselines use an async `stripe.StripeClient` over `stripe.HTTPXClient`, set up as
services/payment/providers/stripe.py does, with the same concurrency.

1. Authorization: N `POST /v1/payments` (a shopper each, its own Idempotency-Key, C clients) →
   p50/p95/p99 and rate, vs N direct `PaymentIntent.create(confirm=True,
   capture_method=manual, ...)` with the same parameters. stripe-mock answers a fixture that is
   not a decision, so every payment stays `pending` (the webhook decides).
2. Webhooks: M pending payments are created first (not timed), then M signed
   `payment_intent.amount_capturable_updated` deliveries are POSTed to `/v1/webhooks/stripe`
   by C senders → events/s and p50/p99, each must be `applied`. Baselines: M direct
   `PaymentIntent.retrieve` calls (C concurrent; what the issue asks for), and the signature
   check alone (`stripe.Webhook.construct_event` on the same payloads, in a loop), to show where
   the time goes. Then a duplicate storm: one event K times, S in flight at once → duplicates/s;
   exactly one delivery may change the payment (checked through the API: one `applied`, K-1
   `duplicate`, one `webhook` line in the payment's history).

Starts its own PostgreSQL, Redis, Kafka and stripe-mock (state `bench-payments`, port offset
1650) and stops them; drops and recreates the `payments_bench` schema each run. About a
minute and 40 s with the defaults on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import bench_servers, quantile, say

SCHEMA = "payments_bench"
AMOUNT = 2599
RETURN_URL = "http://127.0.0.1:8105/checkout/return"
MS = 1000.0


async def concurrently(
    count: int, clients: int, call: Callable[[int], Awaitable[None]]
) -> tuple[float, list[float]]:
    """`call(i)` for i in range(count) from `clients` workers; (elapsed seconds, latencies)."""
    queue = list(range(count - 1, -1, -1))
    latencies: list[float] = []

    async def worker() -> None:
        while queue:
            i = queue.pop()
            started = time.perf_counter()
            await call(i)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return time.perf_counter() - started, latencies


def line(what: str, count: int, elapsed: float, latencies: list[float], unit: str) -> str:
    return (
        f"{what:<34}: {count / elapsed:8.1f} {unit}/s  p50 {quantile(latencies, 0.5) * MS:7.1f} ms"
        f"  p95 {quantile(latencies, 0.95) * MS:7.1f} ms  p99 {quantile(latencies, 0.99) * MS:7.1f}"
        " ms"
    )


def load() -> str:
    return "load average " + " / ".join(f"{x:.1f}" for x in os.getloadavg())


async def run(
    payments: int, webhooks: int, duplicates: int, clients: int, storm_clients: int
) -> None:
    import stripe
    from sqlalchemy.ext.asyncio import create_async_engine

    from services.payment.providers.stripe_events import (
        payment_intent,
        sign_stripe_event,
        stripe_event,
    )
    from services.payment.settings import PaymentSettings
    from tests.helpers import free_port, running_service
    from tests.integration.apps import jwks_server
    from tests.tokens import ISSUER, TokenMinter

    settings = PaymentSettings(environment="test", schema_name=SCHEMA)
    if settings.stripe_api_base is None:
        raise SystemExit("KOMMERCE_STRIPE_API_BASE is not set: is stripe-mock in the stack?")
    secret = settings.stripe_webhook_secrets[0].get_secret_value()  # the service's, too
    engine = create_async_engine(settings.async_database_url())
    async with engine.begin() as conn:  # a fresh schema: runs do not inherit earlier rows
        await conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')
    await engine.dispose()

    minter = TokenMinter()

    def shopper() -> dict[str, str]:
        token = minter.token(roles=["shopper"], lifetime_seconds=3600)
        return {"Authorization": f"Bearer {token}"}

    staff = {"Authorization": f"Bearer {minter.token(roles=['merchant'], lifetime_seconds=3600)}"}
    stripe_http = stripe.HTTPXClient(timeout=30.0)
    direct = stripe.StripeClient(
        settings.stripe_api_key.get_secret_value(),
        base_addresses={"api": str(settings.stripe_api_base).rstrip("/")},
        http_client=stripe_http,
        max_network_retries=0,
    )

    async with AsyncExitStack() as stack:
        log = Path(os.environ["KOMMERCE_STATE"]) / "payment-service.log"
        jwks_url = await stack.enter_async_context(jwks_server(minter))
        port = free_port()
        say(f"starting the payment service (kommerce service run payment) on :{port}, log {log}")
        stack.enter_context(
            running_service(
                "payment",
                port=port,
                env={
                    "KOMMERCE_ENVIRONMENT": "test",
                    "KOMMERCE_LOG_LEVEL": "WARNING",
                    "KOMMERCE_AUTH_JWKS_URL": jwks_url,
                    "KOMMERCE_AUTH_ISSUER": ISSUER,
                    "KOMMERCE_PAYMENT_SCHEMA_NAME": SCHEMA,
                    "KOMMERCE_PAYMENT_CONSUMER_ENABLED": "false",
                    "KOMMERCE_PAYMENT_POOL_SIZE": str(max(10, clients + 4)),
                },
                log=log,
            )
        )
        # idle connections expire before uvicorn's 5 s keep-alive ends them under the client
        limits = httpx.Limits(max_connections=max(clients, storm_clients), keepalive_expiry=2.0)
        http = await stack.enter_async_context(
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60, limits=limits)
        )

        async def create_payment(who: dict[str, str]) -> dict[str, Any]:
            r = await http.post(
                "/v1/payments",
                headers={**who, "Idempotency-Key": str(uuid.uuid4())},
                json={"amount_minor": AMOUNT, "currency": "EUR", "payment_method": "pm_card_visa"},
            )
            if r.status_code != 201:
                raise RuntimeError(f"POST /v1/payments: {r.status_code} {r.text}")
            body: dict[str, Any] = r.json()
            return body

        async def direct_authorize(i: int) -> None:
            params: dict[str, Any] = {  # what StripeProvider.authorize sends
                "amount": AMOUNT,
                "currency": "eur",
                "confirm": True,
                "capture_method": "manual",
                "payment_method": "pm_card_visa",
                "payment_method_types": ["card"],
                "return_url": RETURN_URL,
                "metadata": {"payment_id": f"pay_bench{i:019d}"},
            }
            await direct.v1.payment_intents.create_async(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": str(uuid.uuid4())},
            )

        say("warming up (10 payments through the service, 10 direct calls) ...")
        for n in range(10):
            await create_payment(shopper())
            await direct_authorize(n)

        # --- 1. authorization latency ---------------------------------------------------------
        say(f"authorization: {payments} direct PaymentIntent.create calls, {clients} clients ...")
        d_elapsed, d_lat = await concurrently(payments, clients, direct_authorize)
        shoppers = [shopper() for _ in range(payments)]
        created: list[dict[str, Any]] = []

        async def authorize(i: int) -> None:
            created.append(await create_payment(shoppers[i]))

        say(f"authorization: {payments} POST /v1/payments via the service, {clients} clients ...")
        s_elapsed, s_lat = await concurrently(payments, clients, authorize)
        statuses = Counter(p["status"] for p in created)
        say(f"  ({load()}; payment statuses {dict(statuses)})")

        # --- 2. webhooks ------------------------------------------------------------------------
        say(f"webhooks: creating {webhooks} pending payments (not timed) ...")
        pending: list[dict[str, Any]] = []
        targets = [shopper() for _ in range(webhooks + 1)]

        async def make(i: int) -> None:
            pending.append(await create_payment(targets[i]))

        await concurrently(webhooks + 1, clients, make)
        storm_payment = pending.pop()

        def delivery(payment: dict[str, Any]) -> tuple[bytes, str]:
            obj = payment_intent(
                payment["provider_reference"],
                amount=payment["amount_minor"],
                currency=payment["currency"],
                status="requires_capture",
                capture_method=payment["capture_method"],
                metadata={"payment_id": payment["payment_id"]},
            )
            payload = json.dumps(
                stripe_event("payment_intent.amount_capturable_updated", obj)
            ).encode()
            return payload, sign_stripe_event(payload, secret)

        deliveries = [delivery(p) for p in pending]
        outcomes: Counter[str] = Counter()

        async def send(payload: bytes, signature: str) -> None:
            r = await http.post(
                "/v1/webhooks/stripe",
                content=payload,
                headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
            )
            if r.status_code != 200:
                raise RuntimeError(f"webhook: {r.status_code} {r.text}")
            outcomes[r.json()["outcome"]] += 1

        async def post_webhook(i: int) -> None:
            await send(*deliveries[i])

        say(f"webhooks: {webhooks} direct PaymentIntent.retrieve calls, {clients} clients ...")
        references = [p["provider_reference"] for p in pending]

        async def retrieve(i: int) -> None:
            await direct.v1.payment_intents.retrieve_async(references[i])

        r_elapsed, r_lat = await concurrently(webhooks, clients, retrieve)

        say(f"webhooks: {webhooks} signed deliveries to /v1/webhooks/stripe, {clients} senders ...")
        w_elapsed, w_lat = await concurrently(webhooks, clients, post_webhook)
        if outcomes != Counter({"applied": webhooks}):
            raise RuntimeError(f"every delivery should be applied once: {dict(outcomes)}")

        say(f"webhooks: the signature check alone on the same {webhooks} payloads ...")
        v_lat: list[float] = []
        v_started = time.perf_counter()
        for payload, signature in deliveries:
            started = time.perf_counter()
            stripe.Webhook.construct_event(payload, signature, secret, 300)
            v_lat.append(time.perf_counter() - started)
        v_elapsed = time.perf_counter() - v_started

        say(f"webhooks: duplicate storm, 1 event x {duplicates}, {storm_clients} in flight ...")
        storm = delivery(storm_payment)
        outcomes.clear()

        async def duplicate(i: int) -> None:
            await send(*storm)

        k_elapsed, k_lat = await concurrently(duplicates, storm_clients, duplicate)
        r = await http.get(f"/v1/payments/{storm_payment['payment_id']}", headers=staff)
        final = r.json()["status"]
        r = await http.get(f"/v1/payments/{storm_payment['payment_id']}/history", headers=staff)
        changes = [h for h in r.json() if h["action"] == "webhook"]
        if outcomes != Counter({"applied": 1, "duplicate": duplicates - 1}) or len(changes) != 1:
            raise RuntimeError(
                f"the storm changed the payment {len(changes)} times: {dict(outcomes)}"
            )
        if final != "authorized":
            raise RuntimeError(f"the storm's payment is {final}, not authorized")
        say(f"  ({load()}; storm: 1 applied, {duplicates - 1} duplicates, 1 state change)")

    await stripe_http.close_async()  # type: ignore[no-untyped-call]

    cpus = os.cpu_count()
    say("")
    say(f"== authorization ({payments} each, {clients} concurrent clients, {cpus} CPU(s)) ==")
    say(line("direct stripe-mock create+confirm", payments, d_elapsed, d_lat, "calls"))
    say(line("POST /v1/payments (service)", payments, s_elapsed, s_lat, "payments"))
    say(
        f"p99 ratio (service / direct) {quantile(s_lat, 0.99) / quantile(d_lat, 0.99):.2f}; "
        f"rate: payments/s {payments / s_elapsed:.1f} vs direct stripe-mock calls/s "
        f"{payments / d_elapsed:.1f} → ratio {d_elapsed / s_elapsed:.2f}"
    )
    say(f"== webhooks ({webhooks} each, {clients} concurrent senders) ==")
    say(line("direct stripe-mock retrieve", webhooks, r_elapsed, r_lat, "calls"))
    say(line("POST /v1/webhooks/stripe (service)", webhooks, w_elapsed, w_lat, "events"))
    say(line(f"duplicate storm ({storm_clients} in flight)", duplicates, k_elapsed, k_lat, "dups"))
    say(
        f"{'construct_event alone (1 thread)':<34}: {webhooks / v_elapsed:8.1f} checks/s  "
        f"mean {v_elapsed / webhooks * 1e6:7.1f} µs  p99 {quantile(v_lat, 0.99) * 1e6:7.1f} µs"
    )
    say(
        f"webhooks/s {webhooks / w_elapsed:.1f} vs direct stripe-mock calls/s "
        f"{webhooks / r_elapsed:.1f} → ratio {r_elapsed / w_elapsed:.2f}; "
        f"p99 ratio {quantile(w_lat, 0.99) / quantile(r_lat, 0.99):.2f}"
    )
    say(
        f"webhooks/s {webhooks / w_elapsed:.1f} vs signature checks/s {webhooks / v_elapsed:.1f}"
        f" → ratio {v_elapsed / w_elapsed:.3f} (one check {v_elapsed / webhooks * 1e6:.0f} µs;"
        f" the service takes {w_elapsed / webhooks * MS:.1f} ms of wall time per webhook)"
    )
    say(
        f"duplicates/s {duplicates / k_elapsed:.1f} vs webhooks/s {webhooks / w_elapsed:.1f} → "
        f"ratio {(duplicates / k_elapsed) / (webhooks / w_elapsed):.2f}"
    )
    say(load())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--payments", type=int, default=300, help="authorizations (and calls)")
    parser.add_argument("--webhooks", type=int, default=500, help="webhook deliveries (payments)")
    parser.add_argument("--duplicates", type=int, default=1000, help="copies in the storm")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients / senders")
    parser.add_argument(
        "--storm-clients", type=int, default=100, help="storm deliveries in flight at once"
    )
    parser.add_argument("--port-offset", type=int, default=1650)
    args = parser.parse_args()
    with bench_servers(
        "bench-payments",
        port_offset=args.port_offset,
        servers=["postgres", "redis", "kafka", "stripe-mock"],
    ):
        asyncio.run(
            run(args.payments, args.webhooks, args.duplicates, args.clients, args.storm_clients)
        )


if __name__ == "__main__":
    main()
