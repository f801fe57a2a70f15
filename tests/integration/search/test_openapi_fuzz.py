"""Schemathesis against the search service's own OpenAPI document: no 5xx, no schema violations.

A second instance of the real service (same schema, index and configuration as
`search_service`; it does not consume events) is served in-process over ASGI on schemathesis's
own event loop. Every operation is fuzzed anonymously, with a customer token (admin routes
only: the permission boundary) and with a merchant token (search:admin). Responses must not
be server errors and must match the documented status codes, content types and schemas.

Bounded by `KOMMERCE_FUZZ_EXAMPLES` (default 10); `KOMMERCE_FUZZ_SEED` replays a run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.python import asgi
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from services.search.app import create_app
from services.search.settings import SearchSettings
from tests.integration.search.conftest import Running
from tests.tokens import TokenMinter

pytestmark = pytest.mark.integration

MAX_EXAMPLES = int(os.environ.get("KOMMERCE_FUZZ_EXAMPLES", "10"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
CONFIG: dict[str, Any] = {"generation": {"mode": "all"}}
if seed := os.environ.get("KOMMERCE_FUZZ_SEED"):
    CONFIG["seed"] = int(seed)

schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    """Schemathesis 4.32's lazy schemas read `item._nodeid`, which pytest 9.2 no longer has."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


@pytest.fixture(scope="module")
def fuzz_app(
    search_settings: SearchSettings, search_service: Running, minter: TokenMinter
) -> Iterator[FastAPI]:
    app = create_app(
        search_settings.model_copy(update={"consume_events": False}), auth=minter.authenticator()
    )
    yield app
    asgi.shutdown_lifespans()


@pytest.fixture(scope="module")
def api_schema(fuzz_app: FastAPI) -> BaseSchema:
    return schemathesis.openapi.from_asgi(
        "/openapi.json", fuzz_app, config=SchemathesisConfig.from_dict(CONFIG)
    )


@pytest.fixture(scope="module")
def asgi_client(fuzz_app: FastAPI) -> Iterator[requests.Session]:
    with asgi.get_client(fuzz_app) as client:  # type: ignore[arg-type]
        yield client


def _exercise(case: Case[Any], headers: dict[str, str] | None) -> None:
    response = case.call(headers=headers)
    case.validate_response(response, checks=CHECKS, headers=headers)


@schema.parametrize()
@FUZZ
def test_anonymous(case: Case[Any], asgi_client: requests.Session) -> None:
    _exercise(case, None)


@schema.include(tag="admin").parametrize()
@FUZZ
def test_customer_on_admin_routes(
    case: Case[Any], asgi_client: requests.Session, minter: TokenMinter
) -> None:
    _exercise(case, minter.bearer(roles=["customer"]))


@schema.parametrize()
@FUZZ
def test_admin(case: Case[Any], asgi_client: requests.Session, minter: TokenMinter) -> None:
    _exercise(case, minter.bearer(roles=["merchant"]))
