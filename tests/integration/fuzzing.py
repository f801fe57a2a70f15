"""What every service's schemathesis contract test shares.

Each service's `test_openapi_fuzz.py` runs a second instance of the real service in-process
(schemathesis serves it over ASGI on its own event loop, lifespan included) and fuzzes every
operation of its own OpenAPI document (explicit examples, coverage and fuzzing phases; valid and
invalid input) as several callers. A response must not be a server error, must have a
documented status code and content type, and its body must match the documented schema (errors:
problem+json).

Bounded for CI by `KOMMERCE_FUZZ_EXAMPLES` (fuzzing examples per operation and run, default 10);
`KOMMERCE_FUZZ_SEED` pins the generation seed to replay a run.

A module defines a module-scoped `fuzz_app` fixture (its app, quiet) and unpacks `suite(...)`
into its namespace for the rest: the `api_schema` and `asgi_client` fixtures and the three role
tests (anonymous, shopper, staff).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NamedTuple

import pytest
import requests
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis import Case, Response
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.pytest.lazy import LazySchema
from schemathesis.python import asgi
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.tokens import TokenMinter

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
if seed := os.environ.get("KOMMERCE_FUZZ_SEED"):  # replay a failing run
    CONFIG["seed"] = int(seed)


def openapi_schema(app: FastAPI) -> BaseSchema:
    return schemathesis.openapi.from_asgi(
        "/openapi.json", app, config=SchemathesisConfig.from_dict(CONFIG)
    )


@contextmanager
def served(app: FastAPI) -> Iterator[FastAPI]:
    """Yield `app` for schemathesis; stop the lifespan schemathesis started on its own loop."""
    try:
        yield app
    finally:
        asgi.shutdown_lifespans()


@contextmanager
def asgi_session(app: FastAPI) -> Iterator[requests.Session]:
    with asgi.get_client(app) as client:  # type: ignore[arg-type]
        yield client


def exercise(case: Case[Any], headers: Mapping[str, str] | None) -> Response:
    response = case.call(headers=dict(headers) if headers else None)
    case.validate_response(response, checks=CHECKS, headers=dict(headers) if headers else None)
    return response


def assert_refused(
    client: requests.Session,
    method: str,
    path: str,
    expected: int,
    *,
    params: Mapping[str, str] | None = None,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
) -> None:
    """An input the fuzzer reaches only now and then is refused with a problem, not a 500."""
    r = client.request(method, path, params=params, json=body, headers=headers)
    assert r.status_code == expected, r.text
    assert r.headers["content-type"] == "application/problem+json"


class Suite(NamedTuple):
    """What `suite()` builds; unpack it into the test module so pytest finds the names."""

    api_schema: Any  # fixture: the app's OpenAPI document (schemathesis)
    asgi_client: Any  # fixture: a requests session to the app (edge inputs)
    test_anonymous: Callable[..., None]
    test_shopper: Callable[..., None]
    test_staff: Callable[..., None]


def suite(staff: str, **include: Any) -> Suite:
    """The `api_schema` and `asgi_client` fixtures over the module's `fuzz_app` fixture (module
    scope), and every operation of the app's document — those `include` selects
    (`tag="orders"`, `tag_regex=...`: `LazySchema.include`) — fuzzed anonymously, as a shopper
    and as staff of role `staff`:

        api_schema, asgi_client, test_anonymous, test_shopper, test_merchant = suite("merchant")
    """
    schema: LazySchema = schemathesis.pytest.from_fixture("api_schema")
    if include:
        schema = schema.include(**include)

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
    def test_shopper(case: Case[Any], minter: TokenMinter) -> None:
        exercise(case, minter.bearer(roles=["shopper"]))

    @schema.parametrize()
    @FUZZ
    def test_staff(case: Case[Any], minter: TokenMinter) -> None:
        exercise(case, minter.bearer(roles=[staff]))

    return Suite(api_schema, asgi_client, test_anonymous, test_shopper, test_staff)
