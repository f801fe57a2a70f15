"""Schemathesis against the user service's own OpenAPI document: no 5xx, no schema violations.

The app under test is a second instance of the real service (same settings, so the same database
schema, Redis and signing keys as `user_service`), which schemathesis serves in-process over ASGI
on its own event loop, lifespan included. Every operation is fuzzed (explicit examples, coverage
and fuzzing phases; valid and invalid input) three ways: anonymously, as a signed-in customer
(admin routes only: the permission boundary) and as an admin, so authenticated routes are reached
past the 401. Each response must not be a server error, must have a documented status code and
content type, and its body must match the documented schema (errors: problem+json).

Shared set-up and limits: tests/integration/fuzzing.py.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from fastapi import FastAPI
from schemathesis import Case, Response
from schemathesis.schemas import BaseSchema
from sqlalchemy import text

from services.user.app import create_app
from services.user.settings import OAuthClient, UserSettings
from tests.integration.fuzzing import (
    CHECKS,
    FUZZ,
    asgi_session,
    assert_refused,
    openapi_schema,
    served,
)
from tests.integration.user.conftest import PASSWORD, Mailbox, Running, register_verified

pytestmark = pytest.mark.integration

# Operations that end the caller's own session when they succeed; the admin signs in again after.
ENDS_SESSION = {
    "POST /v1/auth/logout",
    "DELETE /v1/me/sessions",
    "DELETE /v1/me/sessions/{session_id}",
}

schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(scope="module")
def fuzz_app(user_settings: UserSettings, user_service: Running) -> Iterator[FastAPI]:
    """Another instance of the service; `user_service` has migrated the schema already."""
    # providers configured (real endpoints: start only redirects, and a fuzzed callback is
    # refused on its state before any call to a provider), so the OAuth routes are fuzzed too
    providers = {
        name: OAuthClient(client_id=f"fuzz-{name}", client_secret="fuzz-secret")
        for name in ("google", "github", "facebook")
    }
    with served(create_app(user_settings.model_copy(update={"oauth": providers}))) as app:
        yield app


@pytest.fixture(scope="module")
def api_schema(fuzz_app: FastAPI) -> BaseSchema:
    return openapi_schema(fuzz_app)


@pytest.fixture(scope="module")
def asgi_client(fuzz_app: FastAPI) -> Iterator[requests.Session]:
    with asgi_session(fuzz_app) as client:
        yield client


class Account:
    """A signed-in account whose token follows what the fuzzed requests do to it."""

    def __init__(self, client: requests.Session, email: str, password: str) -> None:
        self.client = client
        self.email = email
        self.password = password
        self.token: str | None = None

    def headers(self) -> dict[str, str]:
        if self.token is None:
            r = self.client.post(
                "/v1/auth/login", json={"email": self.email, "password": self.password}
            )
            assert r.status_code == 200, r.text
            self.token = r.json()["tokens"]["access_token"]
        return {"Authorization": f"Bearer {self.token}"}

    def after(self, case: Case[Any], response: Response) -> None:
        """Follow what a successful request changed: credentials, address, ended sessions."""
        label = f"{case.method.upper()} {case.path}"
        ok = 200 <= response.status_code < 300
        if ok and label == "POST /v1/me/password":
            assert isinstance(case.body, dict)
            self.password = str(case.body["new_password"])
        if ok and label == "POST /v1/me/email":
            # The account moved (unless the address was taken), maybe to a shared example address
            # other fuzzed sign-ins lock out: move it back to its own.
            back = self.client.post(
                "/v1/me/email", json={"new_email": self.email}, headers=self.headers()
            )
            assert back.status_code == 202, back.text
        if (ok and label in ENDS_SESSION) or _problem_type(response) == "invalid-token":
            self.token = None


def _problem_type(response: Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    kind = body.get("type") if isinstance(body, dict) else None
    return kind.rsplit("/", 1)[-1] if isinstance(kind, str) else ""


async def _account(service: Running, mailbox: Mailbox, roles: list[str]) -> tuple[str, str]:
    address, password = await register_verified(service.client, mailbox, password=PASSWORD)
    async with service.ctx.db.session() as session:
        user_id = (
            await session.execute(text("SELECT id FROM users WHERE email = :e"), {"e": address})
        ).scalar_one()
        for role in roles:
            await session.execute(
                text("INSERT INTO user_roles (user_id, role) VALUES (:u, :r)"),
                {"u": user_id, "r": role},
            )
    return address, password


@pytest.fixture(scope="module")
async def admin_login(user_service: Running, mailbox: Mailbox) -> tuple[str, str]:
    return await _account(user_service, mailbox, ["admin"])


@pytest.fixture(scope="module")
async def customer_login(user_service: Running, mailbox: Mailbox) -> tuple[str, str]:
    return await _account(user_service, mailbox, [])


@pytest.fixture(scope="module")
def admin(asgi_client: requests.Session, admin_login: tuple[str, str]) -> Account:
    return Account(asgi_client, *admin_login)


@pytest.fixture(scope="module")
def customer(asgi_client: requests.Session, customer_login: tuple[str, str]) -> Account:
    return Account(asgi_client, *customer_login)


def _exercise(case: Case[Any], account: Account | None) -> None:
    headers = account.headers() if account else None
    response = case.call(headers=headers)
    if account:
        account.after(case, response)
    case.validate_response(response, checks=CHECKS, headers=headers)


@schema.parametrize()
@FUZZ
def test_anonymous(case: Case[Any]) -> None:
    _exercise(case, None)


@schema.include(tag="admin").parametrize()
@FUZZ
def test_customer_on_admin_routes(case: Case[Any], customer: Account) -> None:
    _exercise(case, customer)


@schema.parametrize()
@FUZZ
def test_admin(case: Case[Any], admin: Account) -> None:
    _exercise(case, admin)


def _cursor(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


# Inputs the fuzzer reaches only now and then, each once a 500: NUL characters (PostgreSQL text
# cannot hold them) and values beyond what the database can compare with.
EDGES = [
    ("GET", "/v1/admin/users", {"email": "a\x00b"}, None, 422),
    ("GET", "/v1/admin/audit", {"action": "a\x00"}, None, 422),
    ("GET", "/v1/admin/audit", {"ip": "\x00"}, None, 422),
    ("GET", "/v1/admin/audit", {"since": "0001-01-01T00:00:00+01:00"}, None, 400),
    ("GET", "/v1/admin/audit", {"until": "9999-12-31T23:59:59-01:00"}, None, 400),
    (
        "GET",
        "/v1/admin/audit",
        {"cursor": _cursor(["2026-01-01T00:00:00+00:00", 10**30])},
        None,
        400,
    ),
    ("GET", "/v1/admin/audit", {"cursor": _cursor(["0001-01-01T00:00:00+14:00", 1])}, None, 400),
    ("POST", "/v1/auth/login", None, {"email": "a\x00@example.com", "password": "x"}, 422),
    ("PATCH", "/v1/me", None, {"display_name": "a\x00"}, 422),
    (
        "POST",
        "/v1/me/addresses",
        None,
        {"name": "\x00", "line1": "x", "city": "y", "country": "DE"},
        422,
    ),
]


@pytest.mark.parametrize(("method", "path", "params", "body", "expected"), EDGES)
def test_edge_inputs_are_refused(
    admin: Account,
    method: str,
    path: str,
    params: dict[str, str] | None,
    body: dict[str, str] | None,
    expected: int,
) -> None:
    assert_refused(
        admin.client, method, path, expected, params=params, body=body, headers=admin.headers()
    )
