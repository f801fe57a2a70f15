"""The provider sign-in flow against a local OAuth 2.0 / OIDC provider and the stack's Redis.

Each test drives the real protocol: `begin()` builds the authorization URL, a browser signs in
at the provider and consents, the provider redirects back with code and state, `complete()`
trades the code (with the PKCE verifier) and identifies the person.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import jwt
import pytest
from joserfc import jwt as jose_jwt
from joserfc.jwk import RSAKey
from pydantic import SecretStr
from redis.asyncio import Redis

from kommerce.data.cache import redis_client
from services.user.oauth import OAuthError, OAuthFlow
from services.user.oauth.flow import STATE_PREFIX, STATE_TTL_SECONDS, code_challenge
from services.user.oauth.providers import ProviderConfig
from services.user.settings import OAuthClient, UserSettings
from tests.integration.user.oauth_provider import (  # noqa: F401 - fixtures
    Browser,
    LocalProvider,
    browser_fixture,
    local_provider_fixture,
)

pytestmark = pytest.mark.integration
REDIRECT_BASE = "http://user.test/v1/auth/oauth"


@pytest.fixture(scope="session")
async def redis(stack_env: dict[str, str]) -> AsyncIterator[Redis[Any]]:
    client = redis_client(stack_env["KOMMERCE_REDIS_URL"])
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def oauth_settings(local_provider: LocalProvider, stack_env: dict[str, str]) -> UserSettings:
    return UserSettings(
        environment="test",
        oauth={
            p: local_provider.register_client(p, f"{REDIRECT_BASE}/{p}/callback")
            for p in ("google", "github", "facebook")
        },
        oauth_redirect_base=REDIRECT_BASE,
    )


@pytest.fixture
def flow(redis: Redis[Any], oauth_settings: UserSettings) -> OAuthFlow:
    return OAuthFlow(redis, oauth_settings)


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def _replace_param(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    query = {**dict(parse_qsl(parts.query)), name: value}
    return urlunsplit(parts._replace(query=urlencode(query)))


async def _error(awaitable: Any) -> OAuthError:
    with pytest.raises(OAuthError) as caught:
        await awaitable
    return caught.value


# -- the happy paths ---------------------------------------------------------------------------


async def test_google_sign_in(
    flow: OAuthFlow, local_provider: LocalProvider, browser: Browser, redis: Redis[Any]
) -> None:
    person = local_provider.person("google", name="Grace Hopper")
    url = await flow.begin("google")
    params = _query(url)
    assert url.startswith(f"{local_provider.base_url}/google/o/oauth2/v2/auth?")
    assert params["response_type"] == "code"
    assert params["code_challenge_method"] == "S256"
    assert params["scope"] == "openid email profile"
    assert params["redirect_uri"] == f"{REDIRECT_BASE}/google/callback"
    assert len(params["state"]) >= 43
    assert params["nonce"]
    ttl = await redis.ttl(STATE_PREFIX + hashlib.sha256(params["state"].encode()).hexdigest())
    assert 0 < ttl <= STATE_TTL_SECONDS

    back = await browser.authorize(url, person)
    assert back.url.startswith(f"{REDIRECT_BASE}/google/callback?")
    assert back.state == params["state"]
    done = await flow.complete("google", code=back.code, state=back.state)
    assert done.purpose == "login"
    assert done.user_id is None
    identity = done.identity
    assert (identity.provider, identity.subject) == ("google", person.subject)
    assert (identity.email, identity.email_verified) == (person.email, True)
    assert identity.name == "Grace Hopper"


async def test_github_sign_in(
    flow: OAuthFlow, local_provider: LocalProvider, browser: Browser
) -> None:
    person = local_provider.person("github", name="Linus")
    url = await flow.begin("github")
    params = _query(url)
    assert "nonce" not in params  # not an OpenID provider
    assert params["scope"] == "read:user user:email"
    back = await browser.authorize(url, person)
    identity = (await flow.complete("github", code=back.code, state=back.state)).identity
    assert identity.subject == person.subject  # the numeric id, not the login
    assert (identity.email, identity.email_verified, identity.name) == (person.email, True, "Linus")


async def test_facebook_sign_in(
    flow: OAuthFlow, local_provider: LocalProvider, browser: Browser
) -> None:
    person = local_provider.person("facebook", name="Mark")
    url = await flow.begin("facebook")
    assert _query(url)["scope"] == "email public_profile"
    back = await browser.authorize(url, person)
    identity = (await flow.complete("facebook", code=back.code, state=back.state)).identity
    assert (identity.subject, identity.email, identity.email_verified) == (
        person.subject,
        person.email,
        True,
    )


async def test_link_flow_remembers_the_account(
    flow: OAuthFlow, local_provider: LocalProvider, browser: Browser
) -> None:
    user_id = uuid.uuid4()
    url = await flow.begin("github", purpose="link", user_id=user_id)
    back = await browser.authorize(url, local_provider.person("github"))
    done = await flow.complete("github", code=back.code, state=back.state)
    assert (done.purpose, done.user_id) == ("link", user_id)


# -- state ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [None, "", "forged-state", "A" * 43])
async def test_unknown_state_is_refused(
    flow: OAuthFlow, local_provider: LocalProvider, browser: Browser, state: str | None
) -> None:
    url = await flow.begin("google")
    back = await browser.authorize(url, local_provider.person("google"))
    error = await _error(flow.complete("google", code=back.code, state=state))
    assert error.reason == "state_unknown"


async def test_state_from_another_flow_is_refused(
    flow: OAuthFlow, local_provider: LocalProvider, browser: Browser
) -> None:
    """A code delivered with another flow's state (login CSRF, code injection) fails: that
    state's PKCE verifier does not match the code's challenge."""
    for provider in ("google", "github", "facebook"):
        attacker = await flow.begin(provider)
        victim = await flow.begin(provider)
        back = await browser.authorize(attacker, local_provider.person(provider))
        error = await _error(flow.complete(provider, code=back.code, state=_query(victim)["state"]))
        assert error.reason == "token_exchange_failed", provider


async def test_replayed_callback_is_refused(
    flow: OAuthFlow, local_provider: LocalProvider, browser: Browser
) -> None:
    url = await flow.begin("facebook")
    back = await browser.authorize(url, local_provider.person("facebook"))
    await flow.complete("facebook", code=back.code, state=back.state)
    error = await _error(flow.complete("facebook", code=back.code, state=back.state))
    assert error.reason == "state_unknown"


async def test_concurrent_callbacks_only_one_wins(
    flow: OAuthFlow, local_provider: LocalProvider, browser: Browser
) -> None:
    url = await flow.begin("github")
    back = await browser.authorize(url, local_provider.person("github"))
    results = await asyncio.gather(
        *(flow.complete("github", code=back.code, state=back.state) for _ in range(5)),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, OAuthError)]
    assert len(refused) == 4
    assert {r.reason for r in refused} == {"state_unknown"}


async def test_state_of_another_provider_is_refused_and_spent(
    flow: OAuthFlow, local_provider: LocalProvider, browser: Browser
) -> None:
    url = await flow.begin("google")
    back = await browser.authorize(url, local_provider.person("google"))
    error = await _error(flow.complete("github", code=back.code, state=back.state))
    assert error.reason == "state_provider_mismatch"
    error = await _error(flow.complete("google", code=back.code, state=back.state))
    assert error.reason == "state_unknown"


async def test_callback_in_another_browser_is_refused(
    flow: OAuthFlow, local_provider: LocalProvider, browser: Browser
) -> None:
    person = local_provider.person("github")
    for presented in (None, "another-browsers-key-" + "x" * 30):
        url = await flow.begin("github", browser_key="the-starting-browsers-key-" + "k" * 30)
        back = await browser.authorize(url, person)
        error = await _error(
            flow.complete("github", code=back.code, state=back.state, browser_key=presented)
        )
        assert error.reason == "browser_mismatch"
    key = "the-starting-browsers-key-" + "k" * 30
    back = await browser.authorize(await flow.begin("github", browser_key=key), person)
    done = await flow.complete("github", code=back.code, state=back.state, browser_key=key)
    assert done.identity.subject == person.subject


# -- PKCE ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["google", "github", "facebook"])
async def test_wrong_pkce_verifier_is_refused(
    flow: OAuthFlow, local_provider: LocalProvider, browser: Browser, provider: str
) -> None:
    """The code is bound to another challenge than our verifier's: every provider refuses the
    exchange, each in its own error format (GitHub even with HTTP 200)."""
    url = await flow.begin(provider)
    tampered = _replace_param(url, "code_challenge", code_challenge("x" * 64))
    back = await browser.authorize(tampered, local_provider.person(provider))
    assert back.code
    error = await _error(flow.complete(provider, code=back.code, state=back.state))
    assert error.reason == "token_exchange_failed"


async def test_provider_requires_pkce(
    flow: OAuthFlow, local_provider: LocalProvider, browser: Browser
) -> None:
    url = await flow.begin("github")
    parts = urlsplit(url)
    query = {k: v for k, v in parse_qsl(parts.query) if not k.startswith("code_challenge")}
    back = await browser.authorize(
        urlunsplit(parts._replace(query=urlencode(query))), local_provider.person("github")
    )
    assert back.error == "invalid_request"


# -- nonce and id_token --------------------------------------------------------------------------


async def test_nonce_mismatch_is_refused(
    flow: OAuthFlow, local_provider: LocalProvider, browser: Browser
) -> None:
    url = await flow.begin("google")
    back = await browser.authorize(
        _replace_param(url, "nonce", "attacker-chosen-nonce"), local_provider.person("google")
    )
    error = await _error(flow.complete("google", code=back.code, state=back.state))
    assert error.reason == "nonce_mismatch"


async def test_replayed_id_token_is_refused(
    flow: OAuthFlow, local_provider: LocalProvider, browser: Browser
) -> None:
    """An id_token from an earlier sign-in, served again in a later token response, carries the
    earlier flow's nonce and is refused."""
    person = local_provider.person("google")
    first = await browser.authorize(await flow.begin("google"), person)
    await flow.complete("google", code=first.code, state=first.state)
    old = local_provider.issued_id_tokens[-1]
    second = await browser.authorize(await flow.begin("google"), person)
    local_provider.next_id_token = old
    error = await _error(flow.complete("google", code=second.code, state=second.state))
    assert error.reason == "nonce_mismatch"


async def test_nonce_is_accepted_once(
    flow: OAuthFlow, local_provider: LocalProvider, browser: Browser
) -> None:
    back = await browser.authorize(await flow.begin("google"), local_provider.person("google"))
    await flow.complete("google", code=back.code, state=back.state)
    id_token = local_provider.issued_id_tokens[-1]
    nonce = jwt.decode(id_token, options={"verify_signature": False})["nonce"]
    error = await _error(flow.verify_id_token(flow.config("google"), id_token, nonce=nonce))
    assert error.reason == "nonce_replayed"


def _forge(local_provider: LocalProvider, client_id: str, nonce: str, **changes: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": local_provider.issuer("google"),
        "aud": client_id,
        "sub": "forged",
        "iat": now,
        "exp": now + 600,
        "nonce": nonce,
        "email": "victim@example.com",
        "email_verified": True,
    }
    key = changes.pop("key", local_provider.key)
    claims.update(changes)
    header = {"alg": "RS256", "kid": local_provider.kid}
    return jose_jwt.encode(header, claims, key)


@pytest.mark.parametrize(
    "changes",
    [
        {"key": RSAKey.generate_key(2048, private=True)},  # not the provider's key
        {"aud": "someone-elses-client"},
        {"iss": "https://evil.example"},
        {"exp": int(time.time()) - 3600},
    ],
    ids=["signature", "audience", "issuer", "expired"],
)
async def test_forged_id_token_is_refused(
    flow: OAuthFlow, local_provider: LocalProvider, browser: Browser, changes: dict[str, Any]
) -> None:
    url = await flow.begin("google")
    back = await browser.authorize(url, local_provider.person("google"))
    forged = _forge(
        local_provider, flow.config("google").client_id, _query(url)["nonce"], **changes
    )
    local_provider.next_id_token = forged
    error = await _error(flow.complete("google", code=back.code, state=back.state))
    assert error.reason == "id_token_invalid"


# -- what the provider says about the email ------------------------------------------------------


@pytest.mark.parametrize("provider", ["google", "github", "facebook"])
async def test_unverified_email_is_reported_unverified(
    flow: OAuthFlow, local_provider: LocalProvider, browser: Browser, provider: str
) -> None:
    person = local_provider.person(provider, email_verified=False)
    back = await browser.authorize(await flow.begin(provider), person)
    identity = (await flow.complete(provider, code=back.code, state=back.state)).identity
    assert identity.email_verified is False
    if provider == "facebook":  # Graph API withholds an unconfirmed address altogether
        assert identity.email is None
    else:
        assert identity.email == person.email


# -- the person says no --------------------------------------------------------------------------


async def test_access_denied_is_reported_and_spends_the_state(
    flow: OAuthFlow, local_provider: LocalProvider, browser: Browser
) -> None:
    url = await flow.begin("google")
    back = await browser.authorize(url, local_provider.person("google"), consent=False)
    assert back.error == "access_denied"
    assert back.code is None
    assert back.state == _query(url)["state"]
    error = await _error(flow.complete("google", code=None, state=back.state, error=back.error))
    assert (error.reason, error.provider_error) == ("provider_error", "access_denied")
    error = await _error(flow.complete("google", code="anything", state=back.state))
    assert error.reason == "state_unknown"


def test_pkce_challenge_matches_rfc_7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert code_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_defaults_are_the_real_endpoints() -> None:
    """Without overrides, the service talks to the real providers."""
    secret = SecretStr("s")
    google = ProviderConfig.resolve("google", OAuthClient(client_id="g", client_secret=secret))
    assert google.authorize_url == "https://accounts.google.com/o/oauth2/v2/auth"
    assert google.token_url == "https://oauth2.googleapis.com/token"
    assert google.jwks_url == "https://www.googleapis.com/oauth2/v3/certs"
    assert google.issuers == ("https://accounts.google.com", "accounts.google.com")
    github = ProviderConfig.resolve("github", OAuthClient(client_id="h", client_secret=secret))
    assert (github.authorize_url, github.token_url) == (
        "https://github.com/login/oauth/authorize",
        "https://github.com/login/oauth/access_token",
    )
    assert (github.userinfo_url, github.emails_url) == (
        "https://api.github.com/user",
        "https://api.github.com/user/emails",
    )
    assert not github.openid
    facebook = ProviderConfig.resolve("facebook", OAuthClient(client_id="f", client_secret=secret))
    assert facebook.authorize_url == "https://www.facebook.com/v19.0/dialog/oauth"
    assert facebook.token_url == "https://graph.facebook.com/v19.0/oauth/access_token"
    assert facebook.userinfo_url == "https://graph.facebook.com/me?fields=id,name,email"


async def test_unconfigured_provider_is_refused(flow: OAuthFlow) -> None:
    error = await _error(flow.begin("myspace"))
    assert error.reason == "unknown_provider"
