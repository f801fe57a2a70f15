"""Schemathesis against the payment service's API: no 5xx, documented statuses, content types
and bodies (tests/integration/fuzzing.py). The app runs on a fresh schema with its relay and
consumer off, its Stripe provider on stripe-mock; each operation is fuzzed anonymously, as a
shopper and as a merchant (payments:read and payments:manage)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import requests
from fastapi import FastAPI

from services.payment.app import create_app
from services.payment.settings import PaymentSettings
from tests.integration.fuzzing import assert_refused, served, suite
from tests.tokens import TokenMinter

pytestmark = pytest.mark.integration
NOBODY = "pay_" + "0" * 24


@pytest.fixture(scope="module")
def fuzz_app(stack_env: dict[str, str], minter: TokenMinter) -> Iterator[FastAPI]:
    settings = PaymentSettings(
        environment="test",
        schema_name=f"payments_fz{uuid.uuid4().hex[:8]}",
        relay_enabled=False,
        consumer_enabled=False,
        provider_attempts=1,
    )
    with served(create_app(settings, auth=minter.authenticator())) as app:
        yield app


api_schema, asgi_client, test_anonymous, test_shopper, test_merchant = suite("merchant")


EDGES: list[tuple[str, str, int, dict[str, str], object]] = [
    ("GET", "/v1/payments/not-a-payment", 422, {}, None),
    ("GET", f"/v1/payments/{NOBODY}", 404, {}, None),
    ("POST", f"/v1/payments/{NOBODY}/return", 404, {}, None),
    ("POST", "/v1/payments", 428, {}, {}),
    ("POST", "/v1/webhooks/stripe", 400, {"Stripe-Signature": "t=1,v1=00"}, {"id": "evt_1"}),
    ("POST", "/v1/webhooks/stripe", 400, {}, None),
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
    headers = {**minter.bearer(roles=["merchant"]), **extra}
    assert_refused(asgi_client, method, path, expected, headers=headers, body=body)
