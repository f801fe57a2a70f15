"""Redis client factory: bounded timeouts and health checks on every connection."""

from __future__ import annotations

from redis.asyncio import Redis


def redis_client(url: str, *, timeout: float = 2.0) -> Redis[str]:
    return Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=30,
        retry_on_timeout=False,
        decode_responses=True,
    )
