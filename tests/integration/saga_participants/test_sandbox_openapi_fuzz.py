"""Schemathesis against the payment sandbox's own OpenAPI document: no 5xx, no schema
violations (tests/integration/fuzzing.py).

The app under test is a second instance of the sandbox on the same schema (its relay and
consumer off: `payment_sandbox` runs those), fuzzed anonymously, as a shopper (refused) and
as support staff (`orders:read`, past the 401/403 into the handlers).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from fastapi import FastAPI

from services.payment_sandbox.app import create_app
from services.payment_sandbox.settings import PaymentSandboxSettings
from tests.integration.fuzzing import assert_refused, served, suite
from tests.integration.saga_participants.conftest import PaymentSandbox
from tests.tokens import TokenMinter

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fuzz_app(
    sandbox_settings: PaymentSandboxSettings, payment_sandbox: PaymentSandbox, minter: TokenMinter
) -> Iterator[FastAPI]:
    quiet = sandbox_settings.model_copy(update={"relay_enabled": False, "consumer_enabled": False})
    with served(create_app(quiet, auth=minter.authenticator())) as app:
        yield app


api_schema, asgi_client, test_anonymous, test_shopper, test_support = suite("support")


EDGES = [
    ("GET", "/v1/payments/pi_sandbox_\x00", None, 422),
    ("GET", "/v1/payments/pi_sandbox_00", None, 404),
    ("GET", "/v1/payments", {"order_id": "a\x00b"}, 422),
    ("GET", "/v1/payments", None, 422),
]


@pytest.mark.parametrize(("method", "path", "params", "expected"), EDGES)
def test_edge_inputs_are_refused(
    asgi_client: requests.Session,
    minter: TokenMinter,
    method: str,
    path: str,
    params: dict[str, str] | None,
    expected: int,
) -> None:
    headers = minter.bearer(roles=["support"])
    assert_refused(asgi_client, method, path, expected, params=params, headers=headers)
