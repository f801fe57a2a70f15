"""Available-to-sell from the inventory service's public API, for pricing a cart.

`GET {inventory_url}/v1/availability?variant_id=..&variant_id=..` in batches of 100 (the API's
limit) through the service's shared HTTP client. Any failure — not configured, connection
refused, timeout, a non-200, a body that is not what the API documents — is `AvailabilityUnknown`:
the cart shows `availability-unknown` rather than failing, and checkout relies on the
reservation step to find out.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import httpx

from services.order.settings import OrderSettings

BATCH = 100


class AvailabilityUnknown(Exception):
    """Inventory could not say (down, slow, or not configured)."""


class Availability:
    def __init__(
        self,
        http: httpx.AsyncClient,
        settings: OrderSettings | None = None,
        *,
        url: str | None = None,
    ) -> None:
        base = url if url is not None else (settings.inventory_url if settings else None)
        self.base = str(base).rstrip("/") if base else None
        self.http = http
        self.timeout = settings.availability_timeout_seconds if settings else 2.0

    async def get_many(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
        """Units available to sell per variant (0 for variants inventory does not know)."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        if self.base is None:
            raise AvailabilityUnknown("no inventory_url is configured")
        found: dict[uuid.UUID, int] = {}
        for start in range(0, len(wanted), BATCH):
            found.update(await self._batch(wanted[start : start + BATCH]))
        return found

    async def _batch(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
        try:
            r = await self.http.get(
                f"{self.base}/v1/availability",
                params=[("variant_id", str(i)) for i in ids],
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:
            raise AvailabilityUnknown(f"inventory is unreachable: {type(exc).__name__}") from exc
        if r.status_code != 200:
            raise AvailabilityUnknown(f"inventory answered {r.status_code}")
        try:
            body: Any = r.json()
            return {uuid.UUID(item["variant_id"]): int(item["available"]) for item in body}
        except (ValueError, KeyError, TypeError) as exc:
            raise AvailabilityUnknown("inventory's answer is not an availability list") from exc
