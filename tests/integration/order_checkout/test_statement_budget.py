"""The order service's SQL per checkout, counted at the driver: the checkout request itself
(idempotency key, pricing, order, lines, history, events, saga start) and the handling of the
saga's replies for it. Saleor's checkout benchmark shows ~230 queries (77 duplicates); the
budget here is 40 per checkout request, with no statement sent twice with the same parameters.
"""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from services.order.checkout_saga import CheckoutSaga
from tests.integration.order_checkout.conftest import Shop

pytestmark = pytest.mark.integration

BUDGET = 40
_recording: contextvars.ContextVar[list[tuple[str, str]] | None] = contextvars.ContextVar(
    "recording", default=None
)


@contextmanager
def statements(shop: Shop) -> Iterator[None]:
    """Record what the order service's engine sends while a task of ours is `recording`."""
    engine = shop.orders_db.engine.sync_engine

    def before(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        seen = _recording.get()
        if seen is not None:
            seen.append((statement, repr(parameters)))

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", before)


async def test_one_checkout_stays_within_the_statement_budget(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    saga: CheckoutSaga = shop.order_ctx.checkout.saga
    in_replies: list[tuple[str, str]] = []
    original = saga.on_reply

    async def counted(event_: Any, session: Any) -> None:
        token = _recording.set(in_replies)
        try:
            await original(event_, session)
        finally:
            _recording.reset(token)

    monkeypatch.setattr(saga, "on_reply", counted)

    variant = await shop.variant(stock=5)
    other = await shop.variant(stock=5, price_minor=2500)
    shopper = shop.shopper()
    await shop.add(shopper, variant, 2)
    await shop.add(shopper, other, 1)
    in_request: list[tuple[str, str]] = []
    with statements(shop):
        token = _recording.set(in_request)
        try:
            r = await shop.checkout(shopper, key=str(uuid.uuid4()))
        finally:
            _recording.reset(token)
        assert r.status_code == 201, r.text
        assert (await shop.settled(r.json()["id"], shopper))["status"] == "paid"

    listing = "\n".join(f"{n:3} {s[:150]}" for n, (s, _) in enumerate(in_request, 1))
    print(f"\ncheckout request: {len(in_request)} statements\n{listing}")
    print(f"saga replies (3 steps) in the order service: {len(in_replies)} statements")
    assert len(in_request) <= BUDGET, listing
    repeated = {s for s in in_request if in_request.count(s) > 1}
    assert not repeated, f"identical statements sent twice: {repeated}"
    assert len(in_replies) <= BUDGET
