"""Schemathesis against the search service's own OpenAPI document: no 5xx, no schema violations
(tests/integration/fuzzing.py).

A second instance of the real service (same schema, index and configuration as
`search_service`; it does not consume events). Every operation is fuzzed anonymously, with a
shopper token (admin routes only: the permission boundary) and with a merchant token
(search:admin).
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

from services.search.app import create_app
from services.search.settings import SearchSettings
from tests.integration.fuzzing import FUZZ, asgi_session, exercise, openapi_schema, served
from tests.integration.search.conftest import Running
from tests.tokens import TokenMinter

pytestmark = pytest.mark.integration
schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(scope="module")
def fuzz_app(
    search_settings: SearchSettings, search_service: Running, minter: TokenMinter
) -> Iterator[FastAPI]:
    quiet = search_settings.model_copy(update={"consume_events": False})
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
def test_anonymous(case: Case[Any], asgi_client: requests.Session) -> None:
    exercise(case, None)


@schema.include(tag="admin").parametrize()
@FUZZ
def test_shopper_on_admin_routes(
    case: Case[Any], asgi_client: requests.Session, minter: TokenMinter
) -> None:
    exercise(case, minter.bearer(roles=["shopper"]))


@schema.parametrize()
@FUZZ
def test_merchant(case: Case[Any], asgi_client: requests.Session, minter: TokenMinter) -> None:
    exercise(case, minter.bearer(roles=["merchant"]))
