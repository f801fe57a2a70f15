"""Registration, verification, sign-in, refresh rotation, sign-out and password reset."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select, text

from services.user.onetime import Purpose
from services.user.tables import OUTBOX
from tests.integration.user.conftest import (
    PASSWORD,
    Mailbox,
    Running,
    bearer,
    new_email,
    register_verified,
    sign_in,
)

pytestmark = pytest.mark.integration


async def test_register_verify_login_me(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    address = new_email()
    r = await client.post(
        "/v1/auth/register",
        json={"email": address, "password": PASSWORD, "display_name": "Ada", "locale": "de-DE"},
    )
    assert r.status_code == 202, r.text
    message = await mailbox.wait_for(address)
    assert message["Subject"] == "Confirm your email address"
    tokens = await sign_in(client, address)
    me = (await client.get("/v1/me", headers=bearer(tokens["access_token"]))).json()
    assert me["email_verified"] is False
    assert me["locale"] == "de_DE"
    assert me["roles"] == ["shopper"]
    r = await client.post("/v1/auth/verify-email", json={"token": Mailbox.token(message)})
    assert r.status_code == 200, r.text
    me = (await client.get("/v1/me", headers=bearer(tokens["access_token"]))).json()
    assert me["email_verified"] is True


async def test_verification_link_is_single_use(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    address = new_email()
    await client.post("/v1/auth/register", json={"email": address, "password": PASSWORD})
    token = Mailbox.token(await mailbox.wait_for(address))
    assert (await client.post("/v1/auth/verify-email", json={"token": token})).status_code == 200
    again = await client.post("/v1/auth/verify-email", json={"token": token})
    assert again.status_code == 400
    assert again.json()["reason"] == "used"


async def test_tampered_and_expired_links_are_refused(
    client: httpx.AsyncClient, mailbox: Mailbox, user_service: Running
) -> None:
    address = new_email()
    await client.post("/v1/auth/register", json={"email": address, "password": PASSWORD})
    token = Mailbox.token(await mailbox.wait_for(address))
    body, signature = token.split(".")
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    for bad in (f"{flipped}.{signature}", f"{body}.{signature[:-3]}xyz", "garbage", token + "x"):
        r = await client.post("/v1/auth/verify-email", json={"token": bad})
        assert (r.status_code, r.json()["reason"]) == (400, "tampered"), bad
    # a token of another purpose is refused even though its signature is good
    c = user_service.ctx
    async with c.db.session() as session:
        user_id = (
            await session.execute(text("SELECT id FROM users WHERE email = :e"), {"e": address})
        ).scalar()
        reset = await c.onetime.issue(
            session, user_id=user_id, purpose=Purpose.RESET_PASSWORD, ttl_seconds=60
        )
        expired = await c.onetime.issue(
            session,
            user_id=user_id,
            purpose=Purpose.VERIFY_EMAIL,
            ttl_seconds=-1,
            data={"email": address},
        )
    r = await client.post("/v1/auth/verify-email", json={"token": reset})
    assert r.json()["reason"] == "wrong-purpose"
    r = await client.post("/v1/auth/verify-email", json={"token": expired})
    assert r.status_code == 400
    assert r.json()["reason"] == "expired"


async def test_registering_a_taken_address_looks_the_same(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    address, _ = await register_verified(client, mailbox)
    first = await client.post(
        "/v1/auth/register", json={"email": new_email(), "password": PASSWORD}
    )
    again = await client.post(
        "/v1/auth/register", json={"email": address.upper(), "password": PASSWORD + "!"}
    )
    assert again.status_code == first.status_code == 202
    assert again.json() == first.json()
    warning = await mailbox.wait_for(address, count=2)
    assert warning["Subject"] == "Someone tried to register with your address"


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short", "at least 12"),
        ("password1234", "commonly used"),
        ("aaaaaaaaaaaaaaa", "more than two"),
        ("x" * 200, "at most 128"),
    ],
)
async def test_password_policy(client: httpx.AsyncClient, password: str, problem: str) -> None:
    r = await client.post("/v1/auth/register", json={"email": new_email(), "password": password})
    assert r.status_code == 422, r.text
    assert problem in r.json()["detail"]


async def test_password_containing_the_email_is_refused(client: httpx.AsyncClient) -> None:
    address = new_email()
    local = address.split("@")[0]
    r = await client.post(
        "/v1/auth/register", json={"email": address, "password": f"{local}-my-secret"}
    )
    assert r.status_code == 422
    assert "email address" in r.json()["detail"]


async def test_wrong_password_and_unknown_email_answer_alike(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    address, _ = await register_verified(client, mailbox)
    wrong = await client.post("/v1/auth/login", json={"email": address, "password": "nope" * 4})
    unknown = await client.post(
        "/v1/auth/login", json={"email": new_email(), "password": "nope" * 4}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]


async def test_refresh_rotates_and_reuse_revokes_the_family(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    address, _ = await register_verified(client, mailbox)
    first = await sign_in(client, address)
    second = (
        await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    ).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["session_id"] == first["session_id"]
    third = (
        await client.post("/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    ).json()
    # the first token is replayed (a thief's copy): refused, and the whole family dies
    replay = await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    assert replay.json()["reason"] == "reused"
    legit = await client.post("/v1/auth/refresh", json={"refresh_token": third["refresh_token"]})
    assert legit.status_code == 401
    assert legit.json()["reason"] == "revoked"
    # and this service refuses the family's access tokens at once
    r = await client.get("/v1/me/sessions", headers=bearer(third["access_token"]))
    assert r.status_code == 401


async def test_concurrent_refresh_with_one_token_lets_one_win(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    import asyncio

    address, _ = await register_verified(client, mailbox)
    tokens = await sign_in(client, address)
    results = await asyncio.gather(
        *[
            client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
            for _ in range(5)
        ]
    )
    assert sorted(r.status_code for r in results) == [200, 401, 401, 401, 401]


async def test_unknown_refresh_token(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/auth/refresh", json={"refresh_token": "krt_nothing"})
    assert r.status_code == 401
    assert r.json()["reason"] == "unknown"


async def test_logout_ends_the_session(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    address, _ = await register_verified(client, mailbox)
    tokens = await sign_in(client, address)
    r = await client.post("/v1/auth/logout", headers=bearer(tokens["access_token"]))
    assert r.status_code == 204
    r = await client.get("/v1/me", headers=bearer(tokens["access_token"]))
    assert r.status_code == 401  # refused here at once (other services: when it expires)
    r = await client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 401
    assert r.json()["reason"] == "revoked"


async def test_password_reset_flow(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    address, _ = await register_verified(client, mailbox)
    before = await sign_in(client, address)
    unknown = await client.post("/v1/auth/password-reset/request", json={"email": new_email()})
    r = await client.post("/v1/auth/password-reset/request", json={"email": address})
    assert r.status_code == unknown.status_code == 202
    assert r.json() == unknown.json()
    token = Mailbox.token(await mailbox.wait_for(address, count=2))
    new_password = "a completely new passphrase"
    r = await client.post(
        "/v1/auth/password-reset", json={"token": token, "new_password": new_password}
    )
    assert r.status_code == 200, r.text
    # every session ended, the old password is dead, the link is spent
    r = await client.post("/v1/auth/refresh", json={"refresh_token": before["refresh_token"]})
    assert r.status_code == 401
    r = await client.post("/v1/auth/login", json={"email": address, "password": PASSWORD})
    assert r.status_code == 401
    await sign_in(client, address, new_password)
    r = await client.post(
        "/v1/auth/password-reset", json={"token": token, "new_password": "yet another passphrase"}
    )
    assert r.status_code == 400
    assert r.json()["reason"] == "used"


async def test_only_the_latest_reset_link_works(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    address, _ = await register_verified(client, mailbox)
    await client.post("/v1/auth/password-reset/request", json={"email": address})
    await client.post("/v1/auth/password-reset/request", json={"email": address})
    older = Mailbox.token(await mailbox.wait_for(address, count=2))
    newer = Mailbox.token(await mailbox.wait_for(address, count=3))
    r = await client.post(
        "/v1/auth/password-reset", json={"token": older, "new_password": "brand new passphrase"}
    )
    assert r.status_code == 400
    assert r.json()["reason"] == "used"
    r = await client.post(
        "/v1/auth/password-reset", json={"token": newer, "new_password": "brand new passphrase"}
    )
    assert r.status_code == 200


async def test_rehash_on_login_when_parameters_change(
    client: httpx.AsyncClient, mailbox: Mailbox, user_service: Running
) -> None:
    from services.user.passwords import Hasher
    from services.user.settings import Argon2Parameters

    address, _ = await register_verified(client, mailbox)
    c = user_service.ctx
    weaker = Hasher(Argon2Parameters(time_cost=1, memory_cost_kib=8192))
    async with c.db.session() as session:
        await session.execute(
            text("UPDATE users SET password_hash = :h WHERE email = :e"),
            {"h": weaker.hash_sync(PASSWORD), "e": address},
        )
    await sign_in(client, address)
    async with c.db.session() as session:
        stored = (
            await session.execute(
                text("SELECT password_hash FROM users WHERE email = :e"), {"e": address}
            )
        ).scalar_one()
    assert "m=19456,t=2,p=1" in stored


async def test_events_are_recorded_in_the_outbox(
    client: httpx.AsyncClient, mailbox: Mailbox, user_service: Running
) -> None:
    address, _ = await register_verified(client, mailbox)
    await client.post("/v1/auth/password-reset/request", json={"email": address})
    c = user_service.ctx
    async with c.db.session() as session:
        user_id = (
            await session.execute(text("SELECT id FROM users WHERE email = :e"), {"e": address})
        ).scalar_one()
        rows = (
            (
                await session.execute(
                    select(OUTBOX.c.topic)
                    .where(OUTBOX.c.key == str(user_id).encode())
                    .order_by(OUTBOX.c.id)
                )
            )
            .scalars()
            .all()
        )
    assert rows == [
        "user.registered.v1",
        "user.email_verified.v1",
        "user.password_reset_requested.v1",
    ]
