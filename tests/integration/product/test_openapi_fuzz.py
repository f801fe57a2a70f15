"""Schemathesis against the product service's own OpenAPI document: no 5xx, no schema violations
(tests/integration/fuzzing.py).

The app under test is a second instance of the real service on the same schema (relay and
consumer off: `product_service` runs them). Every operation is fuzzed anonymously (writes must
answer 401) and as a merchant (catalog:write), so writes are reached past the permission check.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from fastapi import FastAPI
from schemathesis import Case
from schemathesis.schemas import BaseSchema

from services.product.app import create_app
from services.product.settings import ProductSettings
from tests.integration.fuzzing import (
    FUZZ,
    asgi_session,
    assert_refused,
    exercise,
    openapi_schema,
    served,
)
from tests.integration.product.conftest import Running
from tests.tokens import TokenMinter

pytestmark = pytest.mark.integration
schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(scope="module")
def fuzz_app(
    product_settings: ProductSettings, product_service: Running, minter: TokenMinter
) -> Iterator[FastAPI]:
    """Another instance of the service; `product_service` has migrated the schema already."""
    quiet = product_settings.model_copy(
        update={"relay_enabled": False, "co_occurrence_enabled": False, "migrate_on_start": False}
    )
    with served(create_app(quiet, auth=minter.authenticator())) as app:
        yield app


@pytest.fixture(scope="module")
def api_schema(fuzz_app: FastAPI) -> BaseSchema:
    return openapi_schema(fuzz_app)


@pytest.fixture(scope="module")
def asgi_client(fuzz_app: FastAPI) -> Iterator[requests.Session]:
    with asgi_session(fuzz_app) as client:
        yield client


@schema.parametrize()
@FUZZ
def test_anonymous(case: Case[Any]) -> None:
    exercise(case, None)


@schema.parametrize()
@FUZZ
def test_merchant(case: Case[Any], minter: TokenMinter, asgi_client: requests.Session) -> None:
    exercise(case, minter.bearer(roles=["merchant"]))


EDGES = [
    ("POST", "/v1/categories", {"name": "a\x00b"}, 422),
    ("POST", "/v1/brands", {"name": "\x00"}, 422),
    ("POST", "/v1/products", {"slug": "nul", "name": "a\x00", "variants": []}, 422),
    ("GET", "/v1/products/00000000-0000-0000-0000-000000000000/related", None, 404),
]


@pytest.mark.parametrize(("method", "path", "body", "expected"), EDGES)
def test_edge_inputs_are_refused(
    asgi_client: requests.Session,
    minter: TokenMinter,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    expected: int,
) -> None:
    headers = minter.bearer(roles=["merchant"])
    assert_refused(asgi_client, method, path, expected, body=body, headers=headers)
