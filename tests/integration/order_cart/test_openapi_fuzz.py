"""Schemathesis over the cart and order configuration routes: no 5xx, documented statuses and
bodies (tests/integration/fuzzing.py).

A second instance of the real service on a schema of its own (so generated coupons and tax rates
stay out of the other tests), relay and consumer off, no inventory configured (every cart shows
`availability-unknown`); fuzzed anonymously (guest carts, with generated cart tokens), as a
shopper and as a merchant. Edge inputs the generator rarely reaches are below.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from fastapi import FastAPI
from schemathesis import Case
from schemathesis.schemas import BaseSchema

from services.order.app import create_app
from services.order.settings import OrderSettings
from tests.integration.fuzzing import (
    FUZZ,
    asgi_session,
    assert_refused,
    exercise,
    openapi_schema,
    served,
)
from tests.tokens import TokenMinter

pytestmark = pytest.mark.integration
schema = schemathesis.pytest.from_fixture("api_schema")
TAGS = r"^(cart|order configuration)$"


@pytest.fixture(scope="module")
def fuzz_app(cart_settings: OrderSettings, minter: TokenMinter) -> Iterator[FastAPI]:
    own = cart_settings.model_copy(
        update={"schema_name": f"orders_z{uuid.uuid4().hex[:8]}", "inventory_url": None}
    )
    with served(create_app(own, auth=minter.authenticator())) as app:
        yield app


@pytest.fixture(scope="module")
def api_schema(fuzz_app: FastAPI) -> BaseSchema:
    return openapi_schema(fuzz_app).include(tag_regex=TAGS)


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
def test_shopper(case: Case[Any], minter: TokenMinter) -> None:
    exercise(case, minter.bearer(roles=["shopper"], user_id=str(uuid.uuid4())))


@schema.parametrize()
@FUZZ
def test_merchant(case: Case[Any], minter: TokenMinter) -> None:
    exercise(case, minter.bearer(roles=["merchant"]))


TIME_EDGES = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2026-01-01T00:00:00"]


@pytest.mark.parametrize("when", TIME_EDGES)
def test_coupon_times_out_of_range_are_refused(
    asgi_client: requests.Session, minter: TokenMinter, when: str
) -> None:
    body = {"kind": "percent", "value": 100, "starts_at": when}
    headers = minter.bearer(roles=["merchant"])
    assert_refused(asgi_client, "PUT", "/v1/coupons/EDGE", 422, body=body, headers=headers)


def test_an_unknown_country_is_refused(asgi_client: requests.Session, minter: TokenMinter) -> None:
    headers = minter.bearer(roles=["merchant"])
    assert_refused(
        asgi_client,
        "GET",
        "/v1/cart",
        422,
        params={"country": "XX"},
        headers=headers,
    )
