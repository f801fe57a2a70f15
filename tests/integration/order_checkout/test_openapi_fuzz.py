"""Schemathesis against the checkout and order routes (tag `orders`): no 5xx, documented
statuses, content types and bodies (tests/integration/fuzzing.py). The app runs on a fresh
schema with its relay and consumer off; each operation is fuzzed anonymously, as a shopper and
as support staff."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import requests
from fastapi import FastAPI

from services.order.app import create_app
from services.order.settings import OrderSettings
from tests.integration.fuzzing import assert_refused, served, suite
from tests.tokens import TokenMinter

pytestmark = pytest.mark.integration
NOBODY = "00000000-0000-0000-0000-000000000000"


@pytest.fixture(scope="module")
def fuzz_app(stack_env: dict[str, str], minter: TokenMinter) -> Iterator[FastAPI]:
    settings = OrderSettings(
        environment="test",
        schema_name=f"orders_fz{uuid.uuid4().hex[:8]}",
        relay_enabled=False,
        consumer_enabled=False,
        invoicing_enabled=False,
    )
    with served(create_app(settings, auth=minter.authenticator())) as app:
        yield app


api_schema, asgi_client, test_anonymous, test_shopper, test_support = suite("support", tag="orders")


EDGES: list[tuple[str, str, int, dict[str, str], object]] = [
    ("GET", "/v1/orders/not-a-uuid", 422, {}, None),
    ("GET", f"/v1/orders/{NOBODY}", 404, {}, None),
    ("GET", f"/v1/orders/{NOBODY}/status", 404, {}, None),
    ("GET", f"/v1/orders/{NOBODY}/events", 404, {}, None),
    ("POST", "/v1/checkout", 428, {}, {}),  # no key: asked for one before the body is read
    ("POST", "/v1/checkout", 422, {"Idempotency-Key": "short"}, {}),
    ("POST", "/v1/checkout", 422, {"Idempotency-Key": "k" * 16}, {"email": "x"}),
]


@pytest.mark.parametrize(("method", "path", "expected", "extra", "body"), EDGES)
def test_edge_inputs_are_refused(
    asgi_client: requests.Session,
    minter: TokenMinter,
    method: str,
    path: str,
    expected: int,
    extra: dict[str, str],
    body: object,
) -> None:
    headers = {**minter.bearer(roles=["shopper"]), **extra}
    assert_refused(asgi_client, method, path, expected, headers=headers, body=body)
