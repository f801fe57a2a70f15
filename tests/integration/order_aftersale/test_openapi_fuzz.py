"""Schemathesis over the after-sale routes of the order service (fulfilment, carriers, returns,
my orders): no 5xx, documented statuses and bodies (tests/integration/fuzzing.py).

A second instance of the real service on the session's schema (relay and consumer off), fuzzed
anonymously, as a shopper and as a merchant; signed carrier events with edge content below.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from fastapi import FastAPI

from services.order import tracking
from services.order.app import create_app
from services.order.settings import OrderSettings
from tests.integration.fuzzing import served, suite
from tests.integration.order_aftersale.conftest import SECRET, Running
from tests.tokens import TokenMinter

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fuzz_app(
    order_settings: OrderSettings, order_service: Running, minter: TokenMinter
) -> Iterator[FastAPI]:
    quiet = order_settings.model_copy(update={"relay_enabled": False, "consumer_enabled": False})
    with served(create_app(quiet, auth=minter.authenticator())) as app:
        yield app


api_schema, asgi_client, test_anonymous, test_shopper, test_merchant = suite(
    "merchant", tag_regex=r"^(fulfilment|carriers|returns|my orders)$"
)


def _event(**changes: Any) -> dict[str, Any]:
    return {
        "event_id": f"evt-{uuid.uuid4()}",
        "tracking_number": "TRK0000000",
        "status": "in_transit",
        "occurred_at": datetime.now(UTC).isoformat(),
        **changes,
    }


SIGNED_EDGES = [
    (json.dumps(_event(location="a\x00b")).encode(), 422),
    (json.dumps(_event(occurred_at="2026-11-28T10:00:00")).encode(), 422),  # no time zone
    (json.dumps(_event(status="lost")).encode(), 422),
    (json.dumps(_event(extra=1)).encode(), 422),
    (b"{not json", 422),
    (b"", 422),
    ("\ufeff{}".encode(), 422),
    (json.dumps(_event(tracking_number="NOPE123")).encode(), 404),
]


@pytest.mark.parametrize(("raw", "expected"), SIGNED_EDGES)
def test_signed_edge_bodies_are_refused(
    asgi_client: requests.Session, raw: bytes, expected: int
) -> None:
    r = asgi_client.post(
        "/v1/carriers/dhl/events",
        data=raw,
        headers={"Content-Type": "application/json", tracking.HEADER: tracking.sign(SECRET, raw)},
    )
    assert r.status_code == expected, r.text
    assert r.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "header", ["t=abc,v1=00", "t=99999999999999999999,v1=00", "v1=", "t=1", ",,,", "t=1,v1=zz"]
)
def test_malformed_signatures_are_refused(asgi_client: requests.Session, header: str) -> None:
    r = asgi_client.post(
        "/v1/carriers/dhl/events", json=_event(), headers={tracking.HEADER: header}
    )
    assert r.status_code == 400, r.text
