"""Benchmark: the cost of authentication, in-process, no servers.

(a) Access-token verification as every service does it (`kommerce.auth.TokenVerifier`, Ed25519,
    the issuer's claims) over N distinct tokens, with `verify_cached` and with `await verify`,
    against a raw `jwt.decode` of the same token with the same key (interleaved per token, so
    all three see the same machine load). Prints p50/p95/p99 in microseconds, the ratio, and
    p99 against the goal (< 1 ms).
(b) Logins per second per core: argon2id `verify` with the user service's default parameters,
    one thread for ~S seconds, then T threads (argon2 releases the GIL), against a SHA-256 of
    the same password (what the cost buys: how many times slower a guess is).

    .venv/bin/python -m benchmarks.auth_tokens --tokens 20000 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kommerce.auth.claims import ACCESS_TOKEN_TYPE, ALGORITHM, access_claims
from kommerce.auth.keys import StaticKeys, public_jwk
from kommerce.auth.verifier import TokenVerifier

ISSUER = "https://user.kommerce.example"
AUDIENCE = "kommerce"
GOAL_P99_US = 1000.0
PASSWORD = "correct horse battery staple 42"  # noqa: S105 - a benchmark input
ROLE_MIX = (["shopper"], ["shopper"], ["shopper"], ["merchant"], ["support"], ["admin"])


def _say(msg: str) -> None:
    print(msg, flush=True)


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _tokens(key: Ed25519PrivateKey, kid: str, count: int) -> list[str]:
    """Tokens as services/user/tokens.py issues them: distinct users, sessions and ids."""
    now = int(time.time())
    tokens = []
    for i in range(count):
        claims = access_claims(
            issuer=ISSUER,
            audience=AUDIENCE,
            user_id=str(uuid.uuid4()),
            session_id=uuid.uuid4().hex,
            roles=ROLE_MIX[i % len(ROLE_MIX)],
            amr=["pwd", "otp"] if i % 4 == 0 else ["pwd"],
            lifetime_seconds=900,
            auth_time=now - i % 600,
            now=now,
        )
        headers = {"kid": kid, "typ": ACCESS_TOKEN_TYPE}
        tokens.append(jwt.encode(claims, key, algorithm=ALGORITHM, headers=headers))
    return tokens


def _row(name: str, samples: Sequence[float], baseline: Sequence[float] | None = None) -> str:
    us = [s * 1e6 for s in samples]
    p50, p95, p99 = (_quantile(us, q) for q in (0.5, 0.95, 0.99))
    mean = statistics.fmean(us)
    ratio = ""
    if baseline is not None:
        base = [s * 1e6 for s in baseline]
        ratio = f"{p50 / _quantile(base, 0.5):5.2f}x / {p99 / _quantile(base, 0.99):5.2f}x"
    per_s = 1e6 / mean
    return f"  {name:<28} {p50:8.1f} {p95:8.1f} {p99:8.1f} {mean:8.1f} {per_s:10,.0f}  {ratio}"


Samples = dict[str, tuple[list[float], list[float]]]  # name -> (wall seconds, CPU seconds)
CACHED, AWAITED, RAW = (
    "TokenVerifier.verify_cached",
    "await TokenVerifier.verify",
    "raw jwt.decode (baseline)",
)


async def _measure_tokens(
    verifier: TokenVerifier, public_key: Any, tokens: Sequence[str], *, progress: bool = True
) -> Samples:
    """Each token verified three ways in turn; wall and thread-CPU time of every call."""
    samples: Samples = {name: ([], []) for name in (CACHED, AWAITED, RAW)}
    (cw, cc), (aw, ac), (rw, rc) = samples.values()
    wall, cpu = time.perf_counter, time.thread_time
    step = max(1, len(tokens) // 5)
    for i, token in enumerate(tokens, 1):
        w, c = wall(), cpu()
        verifier.verify_cached(token)
        cw.append(wall() - w)
        cc.append(cpu() - c)
        w, c = wall(), cpu()
        await verifier.verify(token)
        aw.append(wall() - w)
        ac.append(cpu() - c)
        w, c = wall(), cpu()
        jwt.decode(token, public_key, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER)
        rw.append(wall() - w)
        rc.append(cpu() - c)
        if progress and i % step == 0:
            _say(f"  verified {i:,}/{len(tokens):,} tokens (x3)")
    return samples


def bench_tokens(count: int) -> float:
    """Part (a); returns the worse p99 (wall clock) of the two verifier paths, microseconds."""
    key = Ed25519PrivateKey.generate()
    kid = f"{time.strftime('%Y%m%d')}-{uuid.uuid4().hex[:12]}"
    keys = StaticKeys({"keys": [public_jwk(kid, key)]})
    verifier = TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE)

    _say(f"(a) signing {count:,} access tokens (Ed25519, the issuer's claims) ...")
    tokens = _tokens(key, kid, count)
    _say(f"    token size: {statistics.fmean(len(t) for t in tokens):.0f} bytes on average")
    warm = tokens[: min(500, count)]
    asyncio.run(_measure_tokens(verifier, key.public_key(), warm, progress=False))  # warm-up
    _say(f"    measuring {count:,} verifications each, interleaved per token ...")
    samples = asyncio.run(_measure_tokens(verifier, key.public_key(), tokens))

    head = f"  {'':<28} {'p50':>8} {'p95':>8} {'p99':>8} {'mean':>8} {'per s/core':>10}"
    for title, which in (("wall clock", 0), ("CPU time of the thread", 1)):
        _say("")
        _say(f"  access-token verification, N = {count:,}, {title} (microseconds)")
        _say(f"{head}  ratio p50 / p99 vs raw")
        raw = samples[RAW][which]
        for name, pair in samples.items():
            _say(_row(name, pair[which], None if name == RAW else raw))
    p99 = {name: _quantile(samples[name][0], 0.99) * 1e6 for name in (CACHED, AWAITED)}
    worst = max(p99.values())
    verdict = "meets" if worst < GOAL_P99_US else "MISSES"
    _say("")
    _say(
        f"  goal p99 < {GOAL_P99_US:.0f} us (wall clock): verify_cached p99 {p99[CACHED]:.1f} us, "
        f"verify p99 {p99[AWAITED]:.1f} us -> {verdict} the goal"
    )
    return worst


def _rate(work: Callable[[], object], seconds: float, threads: int) -> tuple[int, float, float]:
    """Run `work` in `threads` threads for ~`seconds`: (calls, elapsed s, CPU s of the threads)."""
    counts = [0] * threads
    cpu = [0.0] * threads
    start_gate = threading.Barrier(threads + 1)
    stop_at = [0.0]

    def loop(slot: int) -> None:
        start_gate.wait()
        n = 0
        cpu_start = time.thread_time()
        while time.perf_counter() < stop_at[0]:
            work()
            n += 1
        counts[slot] = n
        cpu[slot] = time.thread_time() - cpu_start

    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    started = time.perf_counter()
    stop_at[0] = started + seconds
    start_gate.wait()
    for worker in workers:
        worker.join()
    return sum(counts), time.perf_counter() - started, sum(cpu)


def bench_passwords(seconds: float, threads: int) -> None:
    """Part (b): argon2id verifications per second, single thread and `threads` threads."""
    from services.user.passwords import Hasher
    from services.user.settings import Argon2Parameters

    params = Argon2Parameters()
    hasher = Hasher(params)
    stored = hasher.hash_sync(PASSWORD)
    if not hasher.verify_sync(stored, PASSWORD).ok:
        raise SystemExit("argon2 verification of the benchmark password failed")
    _say("")
    _say(
        f"(b) argon2id with the user service defaults: time_cost={params.time_cost}, "
        f"memory={params.memory_cost_kib:,} KiB ({params.memory_cost_kib / 1024:.0f} MiB), "
        f"parallelism={params.parallelism}"
    )
    samples = []
    for _ in range(10):  # latency of one verify, warm
        started = time.perf_counter()
        hasher.verify_sync(stored, PASSWORD)
        samples.append(time.perf_counter() - started)

    def verify() -> None:
        hasher.verify_sync(stored, PASSWORD)

    _say(f"    1 thread for ~{seconds:.0f} s ...")
    one, one_elapsed, _ = _rate(verify, seconds, 1)
    _say(f"    {threads} threads for ~{seconds:.0f} s ...")
    many, many_elapsed, many_cpu = _rate(verify, seconds, threads)
    password = PASSWORD.encode()

    def sha() -> None:
        hashlib.sha256(password).digest()

    _say("    SHA-256 of the same password for ~1 s (baseline) ...")
    shas, sha_elapsed, _ = _rate(sha, 1.0, 1)

    single = one / one_elapsed
    total = many / many_elapsed
    per_core = total / threads
    sha_rate = shas / sha_elapsed
    _say("")
    _say("  password verification (what one login costs)")
    _say(f"  {'':<34} {'per second':>12} {'per op':>12}")
    _say(f"  {'argon2id verify, 1 thread':<34} {single:12,.1f} {1000 / single:9.1f} ms")
    _say(
        f"  {f'argon2id verify, {threads} threads (total)':<34} {total:12,.1f} "
        f"{1000 / total:9.1f} ms"
    )
    _say(f"  {'argon2id verify, per core':<34} {per_core:12,.1f} {1000 / per_core:9.1f} ms")
    by_cpu = many / many_cpu
    _say(f"  {'argon2id verify, per CPU-second':<34} {by_cpu:12,.1f} {1000 / by_cpu:9.1f} ms")
    _say(f"  {'SHA-256 (baseline)':<34} {sha_rate:12,.0f} {1e6 / sha_rate:9.2f} us")
    _say(
        f"  single verify latency p50 {_quantile(samples, 0.5) * 1000:.1f} ms; "
        f"scaling {total / single:.2f}x on {threads} threads; "
        f"a guess costs {sha_rate / single:,.0f}x a SHA-256 "
        f"(and {params.memory_cost_kib / 1024:.0f} MiB of memory)"
    )
    _say(
        f"  => about {per_core:,.0f} logins/s per core as measured, {by_cpu:,.0f} per fully "
        f"available core (CPU time); {total:,.0f}/s on this machine (password check only)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=5.0, help="per argon2 measurement")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-passwords", action="store_true")
    args = parser.parse_args()
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    _say(f"{os.cpu_count()} CPU(s), load average {load} (other load skews the tail latencies)")
    bench_tokens(args.tokens)
    if not args.skip_passwords:
        bench_passwords(args.seconds, args.threads)


if __name__ == "__main__":
    main()
