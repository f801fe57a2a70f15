"""Provider sign-in over HTTP: the routes, the account rules (link by verified email, never by
an unverified one, create, unlink) and the audit trail, against the local OAuth provider and the
real user service app on the test stack."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from pydantic import AnyHttpUrl
from sqlalchemy import select

from services.user.settings import UserSettings
from services.user.tables import AUDIT_LOG
from tests.integration.user.conftest import (
    PASSWORD,
    Mailbox,
    Running,
    bearer,
    new_email,
    register_verified,
    sign_in,
    start,
)
from tests.integration.user.oauth_provider import (  # noqa: F401 - fixtures
    Browser,
    LocalProvider,
    Person,
    browser_fixture,
    local_provider_fixture,
)
from tests.integration.user.test_mfa import code_for, enrolled_user

pytestmark = pytest.mark.integration
BASE = "http://user.test"


@pytest.fixture(scope="session")
async def oauth_service(
    user_settings: UserSettings, local_provider: LocalProvider
) -> AsyncIterator[Running]:
    """The user service configured for the local provider as it would be for the real ones."""
    settings = user_settings.model_copy(
        update={
            "oauth": {
                p: local_provider.register_client(p, f"{BASE}/v1/auth/oauth/{p}/callback")
                for p in ("google", "github", "facebook")
            },
            "oauth_redirect_base": AnyHttpUrl(f"{BASE}/v1/auth/oauth"),
        }
    )
    app, lifespan = await start(settings)
    transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 40000))
    async with httpx.AsyncClient(
        transport=transport, base_url=BASE, headers={"User-Agent": "pytest-httpx"}
    ) as client:
        yield Running(app, client)
    await lifespan.__aexit__(None, None, None)


@pytest.fixture
def api(oauth_service: Running) -> httpx.AsyncClient:
    return oauth_service.client


async def provider_callback(
    api: httpx.AsyncClient,
    browser: Browser,
    provider: str,
    person: Person,
    *,
    consent: bool = True,
    access_token: str | None = None,
) -> httpx.Response:
    """Start (sign-in, or linking with an access token), pass the provider, hit the callback."""
    if access_token is None:
        started = await api.get(f"/v1/auth/oauth/{provider}/start", params={"mode": "json"})
    else:
        started = await api.post(f"/v1/me/identities/{provider}", headers=bearer(access_token))
    assert started.status_code == 200, started.text
    back = await browser.authorize(started.json()["authorize_url"], person, consent=consent)
    assert back.url.startswith(f"{BASE}/v1/auth/oauth/{provider}/callback?")
    return await api.get(back.url)


def user_of(tokens: dict[str, Any]) -> str:
    return str(jwt.decode(tokens["access_token"], options={"verify_signature": False})["sub"])


async def last_audit(service: Running, action: str) -> Any:
    async with service.ctx.db.session() as session:
        return (
            await session.execute(
                select(AUDIT_LOG)
                .where(AUDIT_LOG.c.action == action)
                .order_by(AUDIT_LOG.c.id.desc())
                .limit(1)
            )
        ).first()


async def identities(api: httpx.AsyncClient, access_token: str) -> list[dict[str, Any]]:
    r = await api.get("/v1/me/identities", headers=bearer(access_token))
    assert r.status_code == 200, r.text
    result: list[dict[str, Any]] = r.json()
    return result


# -- starting --------------------------------------------------------------------------------------


async def test_start_redirects_to_the_provider(
    api: httpx.AsyncClient, local_provider: LocalProvider
) -> None:
    r = await api.get("/v1/auth/oauth/github/start")
    assert r.status_code == 302
    assert r.headers["location"].startswith(f"{local_provider.base_url}/github/login/oauth/")
    assert "code_challenge=" in r.headers["location"]
    assert r.headers["cache-control"] == "no-store"


async def test_unknown_provider_is_404(api: httpx.AsyncClient) -> None:
    assert (await api.get("/v1/auth/oauth/myspace/start")).status_code == 404
    assert (await api.get("/v1/auth/oauth/myspace/callback?code=x&state=y")).status_code == 404


# -- signing in ----------------------------------------------------------------------------------


async def test_new_account_from_a_verified_provider_email(
    api: httpx.AsyncClient,
    browser: Browser,
    local_provider: LocalProvider,
    oauth_service: Running,
) -> None:
    person = local_provider.person("google", name="Grace Hopper")
    r = await provider_callback(api, browser, "google", person)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    tokens = r.json()["tokens"]
    me = (await api.get("/v1/me", headers=bearer(tokens["access_token"]))).json()
    assert (me["email"], me["email_verified"]) == (person.email, True)
    assert (me["display_name"], me["has_password"]) == ("Grace Hopper", False)
    linked = await identities(api, tokens["access_token"])
    assert [(i["provider"], i["subject"]) for i in linked] == [("google", person.subject)]
    entry = await last_audit(oauth_service, "auth.oauth")
    assert (entry.outcome, entry.details["how"], str(entry.subject_id)) == (
        "success",
        "new account",
        me["id"],
    )
    # the next sign-in finds the same account through the identity
    again = await provider_callback(api, browser, "google", person)
    assert user_of(again.json()["tokens"]) == me["id"]
    assert (await last_audit(oauth_service, "auth.oauth")).details["how"] == "linked"


async def test_verified_email_links_the_verified_account(
    api: httpx.AsyncClient,
    browser: Browser,
    local_provider: LocalProvider,
    mailbox: Mailbox,
    oauth_service: Running,
) -> None:
    address, password = await register_verified(api, mailbox)
    own = await sign_in(api, address, password)
    person = local_provider.person("github", email=address)
    r = await provider_callback(api, browser, "github", person)
    assert r.status_code == 200, r.text
    assert user_of(r.json()["tokens"]) == user_of(own)
    assert [i["provider"] for i in await identities(api, own["access_token"])] == ["github"]
    entry = await last_audit(oauth_service, "identity.link")
    assert (entry.outcome, entry.details["how"]) == ("success", "verified email")


@pytest.mark.parametrize("provider", ["google", "github"])
async def test_unverified_provider_email_never_links(
    api: httpx.AsyncClient,
    browser: Browser,
    local_provider: LocalProvider,
    mailbox: Mailbox,
    oauth_service: Running,
    provider: str,
) -> None:
    address, password = await register_verified(api, mailbox)
    person = local_provider.person(provider, email=address, email_verified=False)
    r = await provider_callback(api, browser, provider, person)
    assert r.status_code == 403, r.text
    assert r.json()["type"].endswith("provider-email-unverified")
    own = await sign_in(api, address, password)
    assert await identities(api, own["access_token"]) == []
    entry = await last_audit(oauth_service, "auth.oauth")
    assert (entry.outcome, entry.details["reason"], str(entry.subject_id)) == (
        "denied",
        "provider email unverified",
        user_of(own),
    )


async def test_no_verified_email_creates_no_account(
    api: httpx.AsyncClient, browser: Browser, local_provider: LocalProvider
) -> None:
    person = local_provider.person("facebook", email_verified=False)  # Graph omits the email
    r = await provider_callback(api, browser, "facebook", person)
    assert r.status_code == 403, r.text


async def test_unconfirmed_local_account_is_not_taken_over(
    api: httpx.AsyncClient, browser: Browser, local_provider: LocalProvider
) -> None:
    """Someone registered the address without confirming it; the owner signing in with Google
    must not inherit (or be merged into) that account."""
    address = new_email()
    r = await api.post("/v1/auth/register", json={"email": address, "password": PASSWORD})
    assert r.status_code == 202
    r = await provider_callback(
        api, browser, "google", local_provider.person("google", email=address)
    )
    assert r.status_code == 409, r.text
    assert r.json()["type"].endswith("account-exists")


async def test_second_factor_still_required(
    api: httpx.AsyncClient, browser: Browser, local_provider: LocalProvider, mailbox: Mailbox
) -> None:
    """A provider sign-in replaces the password, not the account's second factor."""
    address, secret, _, own = await enrolled_user(api, mailbox)
    r = await provider_callback(
        api, browser, "github", local_provider.person("github", email=address)
    )
    assert r.status_code == 200, r.text
    assert r.json()["mfa_required"] is True
    assert r.json()["tokens"] is None
    r = await api.post(
        "/v1/auth/mfa",
        json={"mfa_token": r.json()["mfa_token"], "code": code_for(secret, step_offset=1)},
    )
    assert r.status_code == 200, r.text
    claims = jwt.decode(r.json()["access_token"], options={"verify_signature": False})
    assert (claims["sub"], claims["amr"]) == (user_of(own), ["oauth", "otp"])


# -- refused callbacks -----------------------------------------------------------------------------


async def test_replayed_callback_is_refused(
    api: httpx.AsyncClient,
    browser: Browser,
    local_provider: LocalProvider,
    oauth_service: Running,
) -> None:
    started = await api.get("/v1/auth/oauth/facebook/start", params={"mode": "json"})
    back = await browser.authorize(
        started.json()["authorize_url"], local_provider.person("facebook")
    )
    assert (await api.get(back.url)).status_code == 200
    again = await api.get(back.url)
    assert again.status_code == 400
    assert again.json()["reason"] == "state_unknown"
    entry = await last_audit(oauth_service, "auth.oauth")
    assert (entry.outcome, entry.details["reason"]) == ("failure", "state_unknown")


def other_browser(service: Running) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=service.app, client=("203.0.113.5", 40000)),
        base_url=BASE,
    )


async def test_callback_in_another_browser_is_refused(
    api: httpx.AsyncClient,
    browser: Browser,
    local_provider: LocalProvider,
    oauth_service: Running,
) -> None:
    """Login CSRF: the attacker's own callback URL, opened by the victim, signs no one in."""
    started = await api.get("/v1/auth/oauth/google/start", params={"mode": "json"})
    cookie = started.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/v1/auth/oauth" in cookie
    back = await browser.authorize(started.json()["authorize_url"], local_provider.person("google"))
    async with other_browser(oauth_service) as victim:
        r = await victim.get(back.url)
    assert (r.status_code, r.json()["reason"]) == (400, "browser_mismatch")
    entry = await last_audit(oauth_service, "auth.oauth")
    assert (entry.outcome, entry.details["reason"]) == ("failure", "browser_mismatch")


async def test_link_flow_cannot_be_completed_by_someone_else(
    api: httpx.AsyncClient,
    browser: Browser,
    local_provider: LocalProvider,
    mailbox: Mailbox,
    oauth_service: Running,
) -> None:
    """An attacker starts linking for their own account and lures the victim through the
    provider: the victim's provider account must not end up linked to the attacker's."""
    address, password = await register_verified(api, mailbox)
    attacker = await sign_in(api, address, password)
    started = await api.post("/v1/me/identities/github", headers=bearer(attacker["access_token"]))
    victim_person = local_provider.person("github")
    back = await browser.authorize(started.json()["authorize_url"], victim_person)
    async with other_browser(oauth_service) as victim:
        r = await victim.get(back.url)
    assert (r.status_code, r.json()["reason"]) == (400, "browser_mismatch")
    assert await identities(api, attacker["access_token"]) == []


async def test_forged_state_is_refused(api: httpx.AsyncClient) -> None:
    r = await api.get("/v1/auth/oauth/google/callback", params={"code": "c", "state": "forged"})
    assert (r.status_code, r.json()["reason"]) == (400, "state_unknown")
    r = await api.get("/v1/auth/oauth/google/callback", params={"code": "c"})
    assert (r.status_code, r.json()["reason"]) == (400, "state_unknown")


async def test_access_denied_at_the_provider(
    api: httpx.AsyncClient,
    browser: Browser,
    local_provider: LocalProvider,
    oauth_service: Running,
) -> None:
    r = await provider_callback(
        api, browser, "github", local_provider.person("github"), consent=False
    )
    assert r.status_code == 400
    assert (r.json()["reason"], r.json()["provider_error"]) == ("provider_error", "access_denied")
    entry = await last_audit(oauth_service, "auth.oauth")
    assert (entry.outcome, entry.details["reason"]) == ("denied", "provider_error")


# -- linking and unlinking -----------------------------------------------------------------------


async def test_link_then_sign_in_then_unlink(
    api: httpx.AsyncClient,
    browser: Browser,
    local_provider: LocalProvider,
    mailbox: Mailbox,
    oauth_service: Running,
) -> None:
    address, password = await register_verified(api, mailbox)
    own = await sign_in(api, address, password)
    person = local_provider.person("facebook", email=new_email())  # another address: fine
    r = await provider_callback(api, browser, "facebook", person, access_token=own["access_token"])
    assert r.status_code == 200, r.text
    assert (r.json()["provider"], r.json()["subject"]) == ("facebook", person.subject)
    assert [i["provider"] for i in await identities(api, own["access_token"])] == ["facebook"]
    r = await provider_callback(api, browser, "facebook", person)
    assert user_of(r.json()["tokens"]) == user_of(own)

    r = await api.delete("/v1/me/identities/facebook", headers=bearer(own["access_token"]))
    assert r.status_code == 204, r.text
    assert await identities(api, own["access_token"]) == []
    entry = await last_audit(oauth_service, "identity.unlink")
    assert (entry.outcome, str(entry.subject_id)) == ("success", user_of(own))
    r = await api.delete("/v1/me/identities/facebook", headers=bearer(own["access_token"]))
    assert r.status_code == 404


async def test_identity_of_another_account_is_not_linked(
    api: httpx.AsyncClient,
    browser: Browser,
    local_provider: LocalProvider,
    mailbox: Mailbox,
    oauth_service: Running,
) -> None:
    person = local_provider.person("google")
    assert (await provider_callback(api, browser, "google", person)).status_code == 200
    address, password = await register_verified(api, mailbox)
    other = await sign_in(api, address, password)
    r = await provider_callback(api, browser, "google", person, access_token=other["access_token"])
    assert r.status_code == 409, r.text
    assert r.json()["type"].endswith("identity-in-use")
    entry = await last_audit(oauth_service, "identity.link")
    assert (entry.outcome, str(entry.subject_id)) == ("failure", user_of(other))


async def test_last_way_to_sign_in_cannot_be_unlinked(
    api: httpx.AsyncClient,
    browser: Browser,
    local_provider: LocalProvider,
    oauth_service: Running,
) -> None:
    github = local_provider.person("github")
    tokens = (await provider_callback(api, browser, "github", github)).json()["tokens"]
    access = tokens["access_token"]
    r = await api.delete("/v1/me/identities/github", headers=bearer(access))
    assert r.status_code == 409
    assert r.json()["type"].endswith("last-sign-in-method")
    entry = await last_audit(oauth_service, "identity.unlink")
    assert (entry.outcome, entry.details["reason"]) == ("denied", "last sign-in method")

    google = local_provider.person("google", email=new_email())
    r = await provider_callback(api, browser, "google", google, access_token=access)
    assert r.status_code == 200, r.text
    assert (await api.delete("/v1/me/identities/github", headers=bearer(access))).status_code == 204
    assert (await api.delete("/v1/me/identities/google", headers=bearer(access))).status_code == 409
    assert [i["provider"] for i in await identities(api, access)] == ["google"]


async def test_identity_routes_need_a_signed_in_user(api: httpx.AsyncClient) -> None:
    assert (await api.post("/v1/me/identities/google")).status_code == 401
    assert (await api.get("/v1/me/identities")).status_code == 401
    assert (await api.delete("/v1/me/identities/google")).status_code == 401
    fake = str(uuid.uuid4())
    assert (await api.get("/v1/me/identities", headers=bearer(fake))).status_code == 401
