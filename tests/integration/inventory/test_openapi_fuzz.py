"""Schemathesis against the inventory service's own OpenAPI document: no 5xx, no schema
violations (tests/integration/fuzzing.py).

The app under test is a second instance of the real service on the same schema (its relay,
consumer and sweeper off: `inventory_service` runs those). Every operation is fuzzed
anonymously, as a shopper (the permission boundary) and as a merchant (past the 401/403 into
the handlers).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from fastapi import FastAPI

from services.inventory.app import create_app
from services.inventory.settings import InventorySettings
from tests.integration.fuzzing import assert_refused, served, suite
from tests.integration.inventory.conftest import Running
from tests.tokens import TokenMinter

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fuzz_app(
    inventory_settings: InventorySettings, inventory_service: Running, minter: TokenMinter
) -> Iterator[FastAPI]:
    """Another instance of the service; `inventory_service` has migrated the schema already."""
    quiet = inventory_settings.model_copy(
        update={"relay_enabled": False, "consumer_enabled": False, "sweeper_enabled": False}
    )
    with served(create_app(quiet, auth=minter.authenticator())) as app:
        yield app


api_schema, asgi_client, test_anonymous, test_shopper, test_merchant = suite("merchant")


EDGES = [
    ("GET", "/v1/reports/movements", {"since": "0001-01-01T00:00:00+01:00"}, None, 400),
    ("GET", "/v1/reports/movements", {"until": "9999-12-31T23:59:59-01:00"}, None, 400),
    ("POST", "/v1/suppliers", None, {"name": "a\x00b", "lead_time_days": 1}, 422),
    ("POST", "/v1/reservations", None, {"key": "\x00", "lines": []}, 422),
]


@pytest.mark.parametrize(("method", "path", "params", "body", "expected"), EDGES)
def test_edge_inputs_are_refused(
    asgi_client: requests.Session,
    minter: TokenMinter,
    method: str,
    path: str,
    params: dict[str, str] | None,
    body: dict[str, object] | None,
    expected: int,
) -> None:
    headers = minter.bearer(roles=["merchant"])
    assert_refused(asgi_client, method, path, expected, params=params, body=body, headers=headers)
