"""The authorization code flow with PKCE, state and nonce, for every provider.

Why each check exists:
- state (256 random bits) ties the callback to the browser that started the flow; its record
  lives in Redis for 10 minutes and is taken with GETDEL, so a callback can be used only once
  (a replayed or forged callback finds nothing) and only for the provider that started it.
- the browser key (a random cookie set when the flow starts, its digest kept with the state)
  ties the callback to the browser that started the flow: a callback URL an attacker obtained
  for their own flow and lured someone else to open (login CSRF, or linking the victim's
  provider account to the attacker's account) is refused.
- PKCE (S256) makes an intercepted code useless without the verifier only we hold.
- nonce binds Google's signed id_token to this flow: the token must carry the nonce we stored,
  and a nonce is accepted once (remembered in Redis until the token expires), so an id_token
  lifted from another flow, or replayed, is refused.
Every refusal is an `OAuthError` with a machine-readable `reason`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import jwt
from redis.asyncio import Redis

from kommerce.auth.claims import InvalidToken
from kommerce.auth.keys import JwksKeys, KeysUnavailable
from services.user.oauth.providers import PROVIDERS, ProviderConfig
from services.user.settings import UserSettings

STATE_TTL_SECONDS = 600
STATE_PREFIX = "user:oauth:state:"
NONCE_PREFIX = "user:oauth:nonce:"
CLOCK_SKEW_SECONDS = 60
JWKS_MAX_AGE_SECONDS = 3600  # providers rotate keys; refetch at least this often
JWKS_MIN_REFETCH_SECONDS = 30  # an unknown kid refetches, but not more often than this
USER_AGENT = "kommerce-user-service"  # GitHub's API refuses requests without one

Purpose = Literal["login", "link"]


class OAuthError(Exception):
    """A sign-in with a provider was refused; `reason` says which check failed."""

    def __init__(self, reason: str, detail: str = "", *, provider_error: str | None = None):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.provider_error = provider_error


@dataclass(frozen=True)
class ExternalIdentity:
    """Who signed in at the provider, as the provider reports it."""

    provider: str
    subject: str  # the provider's stable id of the person (never the email)
    email: str | None
    email_verified: bool
    name: str


@dataclass(frozen=True)
class Completed:
    """A finished flow: the identity, and what the flow was started for."""

    identity: ExternalIdentity
    purpose: Purpose
    user_id: uuid.UUID | None  # the account to link to (purpose "link")


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def code_challenge(verifier: str) -> str:
    """RFC 7636 S256: BASE64URL(SHA256(ASCII(code_verifier)))."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


class OAuthFlow:
    """Starts and completes provider sign-ins; one per service, shared by requests."""

    def __init__(
        self,
        redis: Redis[Any],
        settings: UserSettings,
        *,
        http: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.redis = redis
        self.settings = settings
        self.http = http
        self.timeout = timeout
        self._jwks: dict[str, JwksKeys] = {}

    @property
    def configured(self) -> list[str]:
        return sorted(self.settings.oauth)

    def config(self, provider: str) -> ProviderConfig:
        client = self.settings.oauth.get(provider)
        if provider not in PROVIDERS or client is None:
            raise OAuthError("unknown_provider", f"{provider!r} is not configured")
        return ProviderConfig.resolve(provider, client)

    def redirect_uri(self, provider: str) -> str:
        return f"{str(self.settings.oauth_redirect_base).rstrip('/')}/{provider}/callback"

    async def begin(
        self,
        provider: str,
        *,
        purpose: Purpose = "login",
        user_id: uuid.UUID | None = None,
        browser_key: str | None = None,
    ) -> str:
        """Remember a new flow and return the provider's authorization URL to send the user to.

        With `browser_key`, the callback must present the same key (see the module docstring).
        """
        if purpose not in ("login", "link"):
            raise ValueError(f"purpose must be 'login' or 'link', got {purpose!r}")
        if (purpose == "link") != (user_id is not None):
            raise ValueError("a link flow needs the user id; a login flow has none")
        config = self.config(provider)
        state = secrets.token_urlsafe(32)  # 256 bits
        verifier = secrets.token_urlsafe(64)  # 86 characters, within RFC 7636's 43..128
        nonce = secrets.token_urlsafe(32)
        record = {
            "provider": provider,
            "code_verifier": verifier,
            "nonce": nonce,
            "purpose": purpose,
            "user_id": str(user_id) if user_id else None,
            "browser": _digest(browser_key) if browser_key else None,
            "created": int(time.time()),
        }
        await self.redis.set(
            STATE_PREFIX + _digest(state), json.dumps(record), ex=STATE_TTL_SECONDS
        )
        params = {
            "response_type": "code",
            "client_id": config.client_id,
            "redirect_uri": self.redirect_uri(provider),
            "scope": config.scope,
            "state": state,
            "code_challenge": code_challenge(verifier),
            "code_challenge_method": "S256",
        }
        if config.openid:
            params["nonce"] = nonce
        return _with_query(config.authorize_url, params)

    async def complete(
        self,
        provider: str,
        *,
        code: str | None,
        state: str | None,
        error: str | None = None,
        error_description: str | None = None,
        browser_key: str | None = None,
    ) -> Completed:
        """Check the callback, trade the code for tokens and find out who signed in."""
        record = await self._take_state(state)
        if record["provider"] != provider:
            raise OAuthError(
                "state_provider_mismatch",
                f"this sign-in was started with {record['provider']}, not {provider}",
            )
        bound = record.get("browser")
        if bound and not (browser_key and hmac.compare_digest(_digest(browser_key), bound)):
            raise OAuthError("browser_mismatch", "this sign-in was started in another browser")
        if error:
            raise OAuthError("provider_error", error_description or error, provider_error=error)
        if not code:
            raise OAuthError("code_missing", "the callback carries no authorization code")
        config = self.config(provider)
        async with self._client() as http:
            token = await self._exchange(http, config, code, record["code_verifier"])
            access_token = token.get("access_token")
            if not isinstance(access_token, str) or not access_token:
                raise OAuthError("token_exchange_failed", "no access_token in the response")
            if config.openid:
                id_token = token.get("id_token")
                if not isinstance(id_token, str):
                    raise OAuthError("id_token_invalid", "no id_token in the token response")
                claims = await self.verify_id_token(config, id_token, nonce=record["nonce"])
                identity = _from_claims(provider, claims)
            elif provider == "github":
                identity = await _github_identity(http, config, access_token)
            else:
                identity = await _facebook_identity(http, config, access_token)
        user_id = record.get("user_id")
        return Completed(
            identity=identity,
            purpose=record["purpose"],
            user_id=uuid.UUID(user_id) if user_id else None,
        )

    async def _take_state(self, state: str | None) -> dict[str, Any]:
        raw = await self.redis.getdel(STATE_PREFIX + _digest(state)) if state else None
        if raw is None:
            raise OAuthError("state_unknown", "unknown, expired or already used state")
        record: dict[str, Any] = json.loads(raw)
        if time.time() - record["created"] > STATE_TTL_SECONDS:
            raise OAuthError("state_unknown", "the sign-in took too long; start again")
        return record

    @asynccontextmanager
    async def _client(self) -> AsyncIterator[httpx.AsyncClient]:
        if self.http is not None:
            yield self.http
            return
        async with httpx.AsyncClient(
            timeout=self.timeout, headers={"User-Agent": USER_AGENT}
        ) as http:
            yield http

    async def _exchange(
        self, http: httpx.AsyncClient, config: ProviderConfig, code: str, verifier: str
    ) -> dict[str, Any]:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri(config.name),
            "client_id": config.client_id,
            "client_secret": config.client_secret,
            "code_verifier": verifier,
        }
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        try:
            if config.provider.exchange_by_get:
                response = await http.get(config.token_url, params=form, headers=headers)
            else:
                response = await http.post(config.token_url, data=form, headers=headers)
        except httpx.HTTPError as exc:
            raise OAuthError("provider_unreachable", f"token endpoint: {exc}") from exc
        body = _parse_body(response)
        # GitHub answers errors with 200 and an `error` field; Facebook nests its errors
        error = body.get("error")
        if response.status_code != 200 or error:
            if isinstance(error, dict):
                error = error.get("message") or error.get("type")
            detail = body.get("error_description") or error or f"HTTP {response.status_code}"
            raise OAuthError("token_exchange_failed", str(detail), provider_error=str(error))
        return body

    async def verify_id_token(
        self,
        config: ProviderConfig,
        id_token: str,
        *,
        nonce: str,
    ) -> dict[str, Any]:
        """The id_token's claims once its signature, iss, aud, exp and nonce check out.

        A nonce is accepted once: it is remembered until the token expires.
        """
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError as exc:
            raise OAuthError("id_token_invalid", f"malformed id_token: {exc}") from exc
        if header.get("alg") not in ("RS256", "ES256"):
            raise OAuthError("id_token_invalid", f"unexpected alg {header.get('alg')!r}")
        key = await self._signing_key(config, header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key=key.key,
                algorithms=[header["alg"]],
                audience=config.client_id,
                issuer=list(config.issuers),
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["iss", "aud", "exp", "iat", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise OAuthError("id_token_invalid", str(exc)) from exc
        got = claims.get("nonce")
        if not isinstance(got, str) or not hmac.compare_digest(got, nonce):
            raise OAuthError("nonce_mismatch", "the id_token was not issued for this sign-in")
        remember = max(int(claims["exp"]) - int(time.time()), 0) + CLOCK_SKEW_SECONDS
        first = await self.redis.set(NONCE_PREFIX + _digest(nonce), "1", nx=True, ex=remember)
        if not first:
            raise OAuthError("nonce_replayed", "this id_token was already used")
        return claims

    async def _signing_key(self, config: ProviderConfig, kid: object) -> jwt.PyJWK:
        """The provider's key `kid` from its JWKS (the core cache: kept for its max-age, at
        most an hour; an unknown kid refetches at most every 30 s)."""
        if config.jwks_url is None:
            raise OAuthError("id_token_invalid", f"{config.name} has no JWKS endpoint")
        if not isinstance(kid, str) or not kid:
            raise OAuthError("id_token_invalid", "the id_token names no signing key (kid)")
        keys = self._jwks.get(config.jwks_url)
        if keys is None:
            keys = JwksKeys(
                config.jwks_url,
                client=self.http,
                algorithm=None,
                default_max_age=JWKS_MAX_AGE_SECONDS,
                longest_max_age=JWKS_MAX_AGE_SECONDS,
                refetch_cooldown=JWKS_MIN_REFETCH_SECONDS,
                timeout=self.timeout,
            )
            self._jwks[config.jwks_url] = keys
        try:
            return await keys.get(kid)
        except KeysUnavailable as exc:
            raise OAuthError("provider_unreachable", f"JWKS: {exc}") from exc
        except InvalidToken as exc:
            raise OAuthError("id_token_invalid", str(exc)) from exc

    async def aclose(self) -> None:
        for keys in self._jwks.values():
            await keys.aclose()


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def _parse_body(response: httpx.Response) -> dict[str, Any]:
    """JSON, or the form encoding GitHub uses when JSON was not asked for."""
    if "json" in response.headers.get("content-type", ""):
        try:
            body = response.json()
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}
    return dict(parse_qsl(response.text))


def _truthy(value: object) -> bool:
    # Google has sent email_verified both as a JSON boolean and as the string "true"
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _from_claims(provider: str, claims: dict[str, Any]) -> ExternalIdentity:
    email = claims.get("email")
    return ExternalIdentity(
        provider=provider,
        subject=str(claims["sub"]),
        email=email if isinstance(email, str) and email else None,
        email_verified=bool(email) and _truthy(claims.get("email_verified")),
        name=str(claims.get("name") or ""),
    )


async def _get_json(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> Any:
    try:
        response = await http.get(url, headers={"User-Agent": USER_AGENT, **headers})
    except httpx.HTTPError as exc:
        raise OAuthError("provider_unreachable", f"{url}: {exc}") from exc
    if response.status_code != 200:
        raise OAuthError("userinfo_failed", f"{url}: HTTP {response.status_code}")
    try:
        return response.json()
    except ValueError as exc:
        raise OAuthError("userinfo_failed", f"{url}: not JSON") from exc


async def _github_identity(
    http: httpx.AsyncClient, config: ProviderConfig, access_token: str
) -> ExternalIdentity:
    headers = {
        "Authorization": f"Bearer {access_token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }
    if not config.userinfo_url or not config.emails_url:
        raise OAuthError("userinfo_failed", "GitHub needs both the /user and /user/emails URLs")
    user = await _get_json(http, config.userinfo_url, headers)
    if not isinstance(user, dict) or "id" not in user:
        raise OAuthError("userinfo_failed", "GitHub /user answered without an id")
    emails = await _get_json(http, config.emails_url, headers)
    entries = [e for e in emails if isinstance(e, dict)] if isinstance(emails, list) else []
    # the primary address is the one the person chose; a secondary (e.g. the noreply alias)
    # is never substituted for an unverified primary
    chosen = next((e for e in entries if e.get("primary")), None)
    return ExternalIdentity(
        provider="github",
        subject=str(user["id"]),  # numeric and stable; the login can be renamed
        email=str(chosen["email"]) if chosen else None,
        email_verified=bool(chosen and chosen.get("verified") is True),
        name=str(user.get("name") or user.get("login") or ""),
    )


async def _facebook_identity(
    http: httpx.AsyncClient, config: ProviderConfig, access_token: str
) -> ExternalIdentity:
    if not config.userinfo_url:
        raise OAuthError("userinfo_failed", "Facebook needs the /me URL")
    # appsecret_proof: required by apps with "Require App Secret" on, harmless otherwise
    proof = hmac.new(
        config.client_secret.encode(), access_token.encode(), hashlib.sha256
    ).hexdigest()
    url = _with_query(config.userinfo_url, {"appsecret_proof": proof})
    me = await _get_json(http, url, {"Authorization": f"Bearer {access_token}"})
    if not isinstance(me, dict) or "id" not in me:
        raise OAuthError("userinfo_failed", "Facebook /me answered without an id")
    email = me.get("email")
    return ExternalIdentity(
        provider="facebook",
        subject=str(me["id"]),
        email=email if isinstance(email, str) and email else None,
        # Graph API returns `email` only for an address the person has confirmed
        email_verified=isinstance(email, str) and bool(email),
        name=str(me.get("name") or ""),
    )
