"""TOTP enrolment, sign-in with a second factor, recovery codes, replay, step-up."""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pyotp
import pytest

from tests.integration.user.conftest import PASSWORD, Mailbox, bearer, register_verified, sign_in

pytestmark = pytest.mark.integration


def code_for(secret: str, *, step_offset: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * step_offset)


async def step_up(client: httpx.AsyncClient, access: str, **body: str) -> str:
    r = await client.post("/v1/auth/step-up", json=body, headers=bearer(access))
    assert r.status_code == 200, r.text
    token: str = r.json()["access_token"]
    return token


async def enrolled_user(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> tuple[str, str, list[str], dict[str, Any]]:
    """(email, TOTP secret, recovery codes, tokens) for a user with TOTP on."""
    address, _ = await register_verified(client, mailbox)
    tokens = await sign_in(client, address)
    r = await client.post("/v1/me/mfa/totp", headers=bearer(tokens["access_token"]))
    assert r.status_code == 200, r.text
    enrolment = r.json()
    uri = urlparse(enrolment["provisioning_uri"])
    assert uri.scheme == "otpauth"
    assert uri.netloc == "totp"
    assert parse_qs(uri.query)["issuer"] == ["Kommerce"]
    secret = enrolment["secret"]
    r = await client.post(
        "/v1/me/mfa/totp/confirm",
        json={"code": code_for(secret)},
        headers=bearer(tokens["access_token"]),
    )
    assert r.status_code == 200, r.text
    codes = r.json()["recovery_codes"]
    assert len(codes) == 10
    assert len(set(codes)) == 10
    return address, secret, codes, tokens


async def test_sign_in_needs_the_second_factor(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    address, secret, _, _ = await enrolled_user(client, mailbox)
    r = await client.post("/v1/auth/login", json={"email": address, "password": PASSWORD})
    body = r.json()
    assert body["mfa_required"] is True
    assert body["tokens"] is None
    wrong = await client.post(
        "/v1/auth/mfa", json={"mfa_token": body["mfa_token"], "code": "000000"}
    )
    assert wrong.status_code == 401
    # the current step was used by the enrolment confirmation; the next one is fresh
    good = await client.post(
        "/v1/auth/mfa",
        json={"mfa_token": body["mfa_token"], "code": code_for(secret, step_offset=1)},
    )
    assert good.status_code == 200, good.text
    me = await client.get("/v1/me", headers=bearer(good.json()["access_token"]))
    assert me.json()["mfa_enabled"] is True
    # the challenge is single-use
    again = await client.post(
        "/v1/auth/mfa", json={"mfa_token": body["mfa_token"], "code": code_for(secret)}
    )
    assert again.status_code in (400, 401)


async def test_a_totp_code_works_once(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    address, secret, _, _ = await enrolled_user(client, mailbox)
    code = code_for(secret, step_offset=1)
    first = (
        await client.post("/v1/auth/login", json={"email": address, "password": PASSWORD})
    ).json()
    r = await client.post("/v1/auth/mfa", json={"mfa_token": first["mfa_token"], "code": code})
    assert r.status_code == 200
    second = (
        await client.post("/v1/auth/login", json={"email": address, "password": PASSWORD})
    ).json()
    replay = await client.post(
        "/v1/auth/mfa", json={"mfa_token": second["mfa_token"], "code": code}
    )
    assert replay.status_code == 401
    assert "already used" in replay.json()["detail"]


async def test_recovery_codes_are_single_use(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    address, _, codes, _ = await enrolled_user(client, mailbox)
    for expected in (200, 401):
        login = (
            await client.post("/v1/auth/login", json={"email": address, "password": PASSWORD})
        ).json()
        r = await client.post(
            "/v1/auth/mfa", json={"mfa_token": login["mfa_token"], "code": codes[0].upper()}
        )
        assert r.status_code == expected, r.text


async def test_sensitive_actions_need_a_recent_step_up(
    client: httpx.AsyncClient, mailbox: Mailbox, user_service: Any
) -> None:
    address, _ = await register_verified(client, mailbox)
    tokens = await sign_in(client, address)
    # an old sign-in (auth_time long ago) cannot change the password
    me = (await client.get("/v1/me", headers=bearer(tokens["access_token"]))).json()
    old = user_service.ctx.tokens.access_token(
        user_id=uuid.UUID(me["id"]),
        session_id=tokens["session_id"],
        roles=["shopper"],
        amr=["pwd"],
        auth_time=int(time.time()) - 3600,
    )
    r = await client.post(
        "/v1/me/password", json={"new_password": "a new long passphrase"}, headers=bearer(old)
    )
    assert r.status_code == 401
    assert r.json()["type"].endswith("step-up-required")
    assert "insufficient_user_authentication" in r.headers["www-authenticate"]
    bad = await client.post("/v1/auth/step-up", json={"password": "wrong" * 3}, headers=bearer(old))
    assert bad.status_code == 401
    fresh = await step_up(client, old, password=PASSWORD)
    r = await client.post(
        "/v1/me/password", json={"new_password": "a new long passphrase"}, headers=bearer(fresh)
    )
    assert r.status_code == 200, r.text
    await sign_in(client, address, "a new long passphrase")


async def test_mfa_users_step_up_with_a_code(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    _, secret, _, tokens = await enrolled_user(client, mailbox)
    access = tokens["access_token"]  # recent, but signed in with the password only
    r = await client.delete("/v1/me/mfa/totp", headers=bearer(access))
    assert r.status_code == 401
    assert "two-factor" in r.json()["detail"]
    r = await client.post("/v1/auth/step-up", json={"password": PASSWORD}, headers=bearer(access))
    assert r.status_code == 401  # the code is missing
    stepped = await step_up(client, access, password=PASSWORD, code=code_for(secret, step_offset=1))
    r = await client.delete("/v1/me/mfa/totp", headers=bearer(stepped))
    assert r.status_code == 204
    me = await client.get("/v1/me", headers=bearer(stepped))
    assert me.json()["mfa_enabled"] is False


async def test_confirming_with_a_wrong_code_keeps_mfa_off(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    address, _ = await register_verified(client, mailbox)
    tokens = await sign_in(client, address)
    await client.post("/v1/me/mfa/totp", headers=bearer(tokens["access_token"]))
    r = await client.post(
        "/v1/me/mfa/totp/confirm", json={"code": "123456"}, headers=bearer(tokens["access_token"])
    )
    assert r.status_code == 401
    login = await client.post("/v1/auth/login", json={"email": address, "password": PASSWORD})
    assert login.json()["tokens"] is not None  # no second factor asked for
