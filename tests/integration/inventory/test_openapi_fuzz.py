"""Schemathesis against the inventory service's own OpenAPI document: no 5xx, no schema
violations.

The app under test is a second instance of the real service on the same schema (its relay,
consumer and sweeper off: `inventory_service` runs those), served by schemathesis in-process
over ASGI on its own event loop. Every operation is fuzzed (examples, coverage and fuzzing
phases; valid and invalid input) anonymously, as a shopper (the permission boundary) and as a
merchant (past the 401/403 into the handlers). Bounded by `KOMMERCE_FUZZ_EXAMPLES` (default
10); `KOMMERCE_FUZZ_SEED` replays a run.
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

from services.inventory.app import create_app
from services.inventory.settings import InventorySettings
from tests.integration.inventory.conftest import Running
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
    inventory_settings: InventorySettings, inventory_service: Running, minter: TokenMinter
) -> Iterator[FastAPI]:
    """Another instance of the service; `inventory_service` has migrated the schema already."""
    quiet = inventory_settings.model_copy(
        update={"relay_enabled": False, "consumer_enabled": False, "sweeper_enabled": False}
    )
    app = create_app(quiet, auth=minter.authenticator())
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
def test_anonymous(case: Case[Any]) -> None:
    _exercise(case, None)


@schema.parametrize()
@FUZZ
def test_shopper(case: Case[Any], minter: TokenMinter) -> None:
    _exercise(case, minter.bearer(roles=["shopper"]))


@schema.parametrize()
@FUZZ
def test_merchant(case: Case[Any], minter: TokenMinter) -> None:
    _exercise(case, minter.bearer(roles=["merchant"]))


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
    r = asgi_client.request(
        method, path, params=params, json=body, headers=minter.bearer(roles=["merchant"])
    )
    assert r.status_code == expected, r.text
    assert r.headers["content-type"] == "application/problem+json"
