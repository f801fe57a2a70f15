"""Schemathesis against the documents routes of the order service's OpenAPI document: no 5xx,
documented statuses, content types (problem+json, application/pdf) and bodies
(tests/integration/fuzzing.py).

The app under test is a second instance of the real service on the same schema (`order_service`
migrated it), with its relay and consumer off. Each operation is fuzzed anonymously, as a
shopper and as a merchant (past the 401/403 into the handlers).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from fastapi import FastAPI

from services.order.app import create_app
from services.order.settings import OrderSettings
from tests.integration.fuzzing import assert_refused, served, suite
from tests.integration.order_documents.conftest import Running
from tests.tokens import TokenMinter

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fuzz_app(
    order_settings: OrderSettings, order_service: Running, minter: TokenMinter
) -> Iterator[FastAPI]:
    quiet = order_settings.model_copy(
        update={"relay_enabled": False, "consumer_enabled": False, "migrate_on_start": False}
    )
    with served(create_app(quiet, auth=minter.authenticator())) as app:
        yield app


api_schema, asgi_client, test_anonymous, test_shopper, test_merchant = suite(
    "merchant", tag="documents"
)


EDGES = [
    ("GET", "/v1/orders/not-a-uuid/documents", 422),
    ("GET", "/v1/orders/00000000-0000-0000-0000-000000000000/documents/INV-1", 422),
    ("GET", "/v1/orders/00000000-0000-0000-0000-000000000000/documents/inv-000001", 422),
    ("GET", "/v1/orders/00000000-0000-0000-0000-000000000000/documents/INV-000001", 404),
    ("POST", "/v1/orders/00000000-0000-0000-0000-000000000000/invoice", 404),
]


@pytest.mark.parametrize(("method", "path", "expected"), EDGES)
def test_edge_inputs_are_refused(
    asgi_client: requests.Session, minter: TokenMinter, method: str, path: str, expected: int
) -> None:
    headers = minter.bearer(roles=["merchant"])
    assert_refused(asgi_client, method, path, expected, headers=headers)
