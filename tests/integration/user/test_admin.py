"""Roles and the permission boundary of each, the audit log, signing-key rotation."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from kommerce.auth.keys import JwksKeys
from kommerce.auth.verifier import TokenVerifier
from services.user.tables import OUTBOX
from tests.integration.user.conftest import Mailbox, Running, bearer, register_verified, sign_in

pytestmark = pytest.mark.integration


async def user_with_roles(
    client: httpx.AsyncClient, mailbox: Mailbox, service: Running, roles: list[str]
) -> tuple[str, dict[str, Any]]:
    """A verified user holding exactly `roles` (set in the database): (user id, tokens)."""
    address, _ = await register_verified(client, mailbox)
    async with service.ctx.db.session() as session:
        user_id = (
            await session.execute(text("SELECT id FROM users WHERE email = :e"), {"e": address})
        ).scalar_one()
        await session.execute(text("DELETE FROM user_roles WHERE user_id = :u"), {"u": user_id})
        for role in roles:
            await session.execute(
                text("INSERT INTO user_roles (user_id, role) VALUES (:u, :r)"),
                {"u": user_id, "r": role},
            )
    return str(user_id), await sign_in(client, address)


@pytest.fixture
async def admin(client: httpx.AsyncClient, mailbox: Mailbox, user_service: Running) -> Any:
    return await user_with_roles(client, mailbox, user_service, ["admin"])


# (role, endpoint, allowed?) — each role boundary of the admin API
BOUNDARIES = [
    ("shopper", "GET /v1/admin/users", False),
    ("shopper", "GET /v1/admin/audit", False),
    ("support", "GET /v1/admin/users", True),
    ("support", "GET /v1/admin/audit", True),
    ("support", "PUT /v1/admin/users/{uid}/roles/merchant", False),
    ("support", "DELETE /v1/admin/users/{uid}/sessions", True),
    ("merchant", "GET /v1/admin/users", False),
    ("merchant", "GET /v1/admin/audit", False),
    ("platform-engineer", "GET /v1/admin/audit", True),
    ("platform-engineer", "GET /v1/admin/users", False),
    ("platform-engineer", "POST /v1/admin/keys/rotate", False),
    ("admin", "PUT /v1/admin/users/{uid}/roles/merchant", True),
    ("admin", "DELETE /v1/admin/users/{uid}/sessions", True),
]


@pytest.mark.parametrize(("role", "endpoint", "allowed"), BOUNDARIES)
async def test_role_boundaries(
    client: httpx.AsyncClient,
    mailbox: Mailbox,
    user_service: Running,
    role: str,
    endpoint: str,
    allowed: bool,
) -> None:
    target, _ = await user_with_roles(client, mailbox, user_service, ["shopper"])
    _, tokens = await user_with_roles(client, mailbox, user_service, [role])
    method, path = endpoint.split(" ")
    r = await client.request(
        method, path.format(uid=target), headers=bearer(tokens["access_token"])
    )
    if allowed:
        assert r.status_code == 200, r.text
    else:
        assert r.status_code == 403, r.text
        assert r.json()["required"]


async def test_granting_a_role_takes_effect_on_refresh_and_emits_an_event(
    client: httpx.AsyncClient, mailbox: Mailbox, user_service: Running, admin: Any
) -> None:
    admin_id, admin_tokens = admin
    target, target_tokens = await user_with_roles(client, mailbox, user_service, ["shopper"])
    r = await client.put(
        f"/v1/admin/users/{target}/roles/support", headers=bearer(admin_tokens["access_token"])
    )
    assert r.json()["roles"] == ["shopper", "support"]
    again = await client.put(
        f"/v1/admin/users/{target}/roles/support", headers=bearer(admin_tokens["access_token"])
    )
    assert again.status_code == 200  # idempotent, no second event
    refreshed = (
        await client.post(
            "/v1/auth/refresh", json={"refresh_token": target_tokens["refresh_token"]}
        )
    ).json()
    claims = jwt.decode(refreshed["access_token"], options={"verify_signature": False})
    assert claims["roles"] == ["shopper", "support"]
    r = await client.get("/v1/admin/users", headers=bearer(refreshed["access_token"]))
    assert r.status_code == 200
    async with user_service.ctx.db.session() as session:
        topics = (
            await session.execute(
                select(OUTBOX.c.topic).where(
                    OUTBOX.c.key == target.encode(), OUTBOX.c.topic == "user.role_changed.v1"
                )
            )
        ).all()
    assert len(topics) == 1
    r = await client.request(
        "DELETE",
        f"/v1/admin/users/{admin_id}/roles/admin",
        headers=bearer(admin_tokens["access_token"]),
    )
    assert r.status_code == 409
    r = await client.put(
        f"/v1/admin/users/{uuid.uuid4()}/roles/support",
        headers=bearer(admin_tokens["access_token"]),
    )
    assert r.status_code == 404
    r = await client.put(
        f"/v1/admin/users/{target}/roles/emperor", headers=bearer(admin_tokens["access_token"])
    )
    assert r.status_code == 422


async def test_audit_log_filters_pages_and_cannot_be_changed(
    client: httpx.AsyncClient, mailbox: Mailbox, user_service: Running, admin: Any
) -> None:
    _, admin_tokens = admin
    target, _ = await user_with_roles(client, mailbox, user_service, ["shopper"])
    address = (
        await client.get(
            "/v1/admin/users", headers=bearer(admin_tokens["access_token"]), params={"limit": 200}
        )
    ).json()
    for _ in range(3):
        async with user_service.ctx.db.session() as session:
            email = (
                await session.execute(text("SELECT email FROM users WHERE id = :u"), {"u": target})
            ).scalar_one()
        await client.post(
            "/v1/auth/login",
            json={"email": email, "password": "wrong password!!"},
            headers={"User-Agent": "audit-probe"},
        )
    headers = bearer(admin_tokens["access_token"])
    page = (
        await client.get(
            "/v1/admin/audit",
            params={"subject_id": target, "action": "auth.login", "outcome": "failure", "limit": 2},
            headers=headers,
        )
    ).json()
    assert len(page["entries"]) == 2
    assert page["next_cursor"]
    entry = page["entries"][0]
    assert entry["ip"] == "198.51.100.7"
    assert entry["user_agent"] == "audit-probe"
    rest = (
        await client.get(
            "/v1/admin/audit",
            params={
                "subject_id": target,
                "action": "auth.login",
                "outcome": "failure",
                "limit": 2,
                "cursor": page["next_cursor"],
            },
            headers=headers,
        )
    ).json()
    assert len(rest["entries"]) == 1
    assert rest["next_cursor"] is None
    ids = [e["id"] for e in page["entries"] + rest["entries"]]
    assert ids == sorted(ids, reverse=True)
    bad = await client.get("/v1/admin/audit", params={"cursor": "nonsense"}, headers=headers)
    assert bad.status_code == 400
    assert address["users"]
    # append-only, for the service's own database role too
    for statement in (
        "UPDATE audit_log SET outcome = 'success'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with user_service.ctx.db.session() as session:
                await session.execute(text(statement))


async def test_key_rotation_keeps_old_tokens_valid_elsewhere(
    client: httpx.AsyncClient, mailbox: Mailbox, user_service: Running, admin: Any
) -> None:
    """Another service verifies from the JWKS alone, across a rotation."""
    _, admin_tokens = admin
    _, shopper = await user_with_roles(client, mailbox, user_service, ["shopper"])
    keys = JwksKeys(f"{client.base_url}/.well-known/jwks.json", client=client, refetch_cooldown=0)
    settings = user_service.ctx.settings
    verifier = TokenVerifier(keys, issuer=settings.issuer, audience=settings.audience)
    before = await verifier.verify(shopper["access_token"])
    old_kid = jwt.get_unverified_header(shopper["access_token"])["kid"]
    r = await client.post("/v1/admin/keys/rotate", headers=bearer(admin_tokens["access_token"]))
    new_kid = r.json()["kid"]
    assert new_kid != old_kid
    published = {k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]}
    assert {old_kid, new_kid} <= published
    # old token still verifies; a token signed after rotation carries the new kid and verifies
    assert (await verifier.verify(shopper["access_token"])).user_id == before.user_id
    refreshed = (
        await client.post("/v1/auth/refresh", json={"refresh_token": shopper["refresh_token"]})
    ).json()
    assert jwt.get_unverified_header(refreshed["access_token"])["kid"] == new_kid
    assert (await verifier.verify(refreshed["access_token"])).user_id == before.user_id
    me = await client.get("/v1/me", headers=bearer(shopper["access_token"]))
    assert me.status_code == 200
