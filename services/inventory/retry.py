"""Retry a whole transaction when PostgreSQL aborted it for a transient reason.

A deadlock (40P01) or serialization failure (40001) rolls the transaction back, so running it
again is safe; so is a connection found dead (the pool does not ping before use: a restarted
PostgreSQL costs the first statement on each old connection, which this retries on a fresh
one). Every caller is idempotent: a reserve that did commit before the connection died finds
its key on the retry and returns the same reservation.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

log = logging.getLogger("kommerce.inventory.retry")

T = TypeVar("T")

TRANSIENT_SQLSTATES = frozenset({"40001", "40P01"})
ATTEMPTS = 4


def is_transient(exc: DBAPIError) -> bool:
    return bool(exc.connection_invalidated) or (
        getattr(exc.orig, "sqlstate", None) in TRANSIENT_SQLSTATES
    )


async def retrying(attempt: Callable[[], Awaitable[T]], *, what: str) -> T:
    """`attempt()` (one whole transaction), up to ATTEMPTS times while it fails transiently."""
    for n in range(1, ATTEMPTS + 1):
        try:
            return await attempt()
        except DBAPIError as exc:
            if n == ATTEMPTS or not is_transient(exc):
                raise
            log.info("%s: transient failure (attempt %d), retrying: %s", what, n, exc.orig)
            await asyncio.sleep(random.uniform(0, 0.005 * 2**n))  # noqa: S311  # nosec B311
    raise AssertionError("unreachable")
