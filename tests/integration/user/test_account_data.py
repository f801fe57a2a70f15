"""Sessions and devices, profiles with preferences, address books."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.user.conftest import Mailbox, bearer, register_verified, sign_in

pytestmark = pytest.mark.integration

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)


async def login_as(client: httpx.AsyncClient, address: str, agent: str) -> dict[str, str]:
    r = await client.post(
        "/v1/auth/login",
        json={"email": address, "password": "correct horse battery staple"},
        headers={"User-Agent": agent},
    )
    assert r.status_code == 200, r.text
    tokens: dict[str, str] = r.json()["tokens"]
    return tokens


async def test_sessions_list_revoke_and_logout_everywhere(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    address, _ = await register_verified(client, mailbox)
    laptop = await login_as(client, address, FIREFOX)
    phone = await login_as(client, address, IPHONE)
    tablet = await sign_in(client, address)
    listed = (await client.get("/v1/me/sessions", headers=bearer(laptop["access_token"]))).json()
    devices = {s["session_id"]: (s["device"], s["current"]) for s in listed}
    assert devices[laptop["session_id"]] == ("Firefox on Linux", True)
    assert devices[phone["session_id"]] == ("Safari on iOS", False)
    assert len(devices) == 3
    # revoke the phone from the laptop
    r = await client.delete(
        f"/v1/me/sessions/{phone['session_id']}", headers=bearer(laptop["access_token"])
    )
    assert r.status_code == 200
    r = await client.post("/v1/auth/refresh", json={"refresh_token": phone["refresh_token"]})
    assert r.status_code == 401
    assert (await client.get("/v1/me", headers=bearer(phone["access_token"]))).status_code == 401
    assert (await client.get("/v1/me", headers=bearer(laptop["access_token"]))).status_code == 200
    # someone else's session id is not yours to revoke
    other, _ = await register_verified(client, mailbox)
    stranger = await sign_in(client, other)
    r = await client.delete(
        f"/v1/me/sessions/{tablet['session_id']}", headers=bearer(stranger["access_token"])
    )
    assert r.status_code == 404
    r = await client.post("/v1/auth/refresh", json={"refresh_token": tablet["refresh_token"]})
    assert r.status_code == 200
    tablet = r.json()
    # log out everywhere
    r = await client.delete("/v1/me/sessions", headers=bearer(laptop["access_token"]))
    assert sorted(r.json()["revoked"]) == sorted([laptop["session_id"], tablet["session_id"]])
    for refresh in (laptop["refresh_token"], tablet["refresh_token"]):
        r = await client.post("/v1/auth/refresh", json={"refresh_token": refresh})
        assert r.status_code == 401
    # this service refuses the signed-out sessions' access tokens at once
    r = await client.get("/v1/me/sessions", headers=bearer(laptop["access_token"]))
    assert r.status_code == 401
    assert "signed out" in r.json()["detail"]


async def test_profile_preferences(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    address, _ = await register_verified(client, mailbox)
    access = (await sign_in(client, address))["access_token"]
    r = await client.patch(
        "/v1/me",
        json={
            "display_name": "Grace",
            "locale": "fr-CA",
            "currency": "jpy",
            "notification_channels": ["push", "email", "push"],
            "marketing_consent": True,
        },
        headers=bearer(access),
    )
    assert r.status_code == 200, r.text
    me = r.json()
    assert (me["locale"], me["currency"]) == ("fr_CA", "JPY")
    assert me["notification_channels"] == ["email", "push"]
    assert me["marketing_consent"] is True
    assert me["marketing_consent_at"] is not None
    r = await client.patch("/v1/me", json={"marketing_consent": False}, headers=bearer(access))
    assert r.json()["marketing_consent_at"] is None
    for bad in (
        {"currency": "XXQ"},
        {"locale": "xx-YY-ZZ"},
        {"notification_channels": ["fax"]},
        {"email": "x@y.z"},
    ):
        r = await client.patch("/v1/me", json=bad, headers=bearer(access))
        assert r.status_code == 422, (bad, r.text)


ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "12 St James's Square",
    "city": "London",
    "postal_code": "SW1Y 4JH",
    "country": "gb",
}


async def test_address_book(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    address, _ = await register_verified(client, mailbox)
    access = (await sign_in(client, address))["access_token"]
    first = await client.post(
        "/v1/me/addresses", json={**ADDRESS, "default_shipping": True}, headers=bearer(access)
    )
    assert first.status_code == 201, first.text
    assert first.json()["country"] == "GB"
    second = await client.post(
        "/v1/me/addresses",
        json={**ADDRESS, "label": "office", "default_shipping": True},
        headers=bearer(access),
    )
    listed = (await client.get("/v1/me/addresses", headers=bearer(access))).json()
    defaults = {a["id"]: a["default_shipping"] for a in listed}
    assert defaults == {first.json()["id"]: False, second.json()["id"]: True}
    r = await client.put(
        f"/v1/me/addresses/{first.json()['id']}",
        json={**ADDRESS, "city": "Cambridge"},
        headers=bearer(access),
    )
    assert r.json()["city"] == "Cambridge"
    r = await client.post(
        "/v1/me/addresses", json={**ADDRESS, "country": "XX"}, headers=bearer(access)
    )
    assert r.status_code == 422
    # another user cannot touch it
    other, _ = await register_verified(client, mailbox)
    stranger = (await sign_in(client, other))["access_token"]
    r = await client.delete(f"/v1/me/addresses/{first.json()['id']}", headers=bearer(stranger))
    assert r.status_code == 404
    r = await client.delete(f"/v1/me/addresses/{first.json()['id']}", headers=bearer(access))
    assert r.status_code == 204
    assert len((await client.get("/v1/me/addresses", headers=bearer(access))).json()) == 1


async def test_unauthenticated_requests_are_refused(client: httpx.AsyncClient) -> None:
    for method, path in (
        ("GET", "/v1/me"),
        ("GET", "/v1/me/sessions"),
        ("POST", "/v1/auth/logout"),
    ):
        r = await client.request(method, path)
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith("Bearer")
    r = await client.get("/v1/me", headers=bearer("not-a-jwt"))
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["www-authenticate"]
