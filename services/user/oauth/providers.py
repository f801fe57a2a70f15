"""The three providers we accept, with their real endpoints as defaults.

Each provider reports the signed-in person differently: Google in a signed OpenID Connect
id_token (so we verify it and need its nonce), GitHub through its REST API (the email and its
verified flag come from /user/emails), Facebook through the Graph API (it only ever returns an
address the person has confirmed). Every endpoint can be overridden by the `OAuthClient`
settings, which is how the tests point us at a local provider speaking the same protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from services.user.settings import OAuthClient

ProviderName = Literal["google", "github", "facebook"]


@dataclass(frozen=True)
class Provider:
    """A provider's defaults (as published by the provider)."""

    name: ProviderName
    authorize_url: str
    token_url: str
    scope: str
    userinfo_url: str | None = None
    emails_url: str | None = None
    jwks_url: str | None = None
    issuers: tuple[str, ...] = ()  # id_token `iss` values accepted (OIDC providers only)
    exchange_by_get: bool = False  # the code exchange is a GET with a query string

    @property
    def openid(self) -> bool:
        """Whether the provider signs an id_token (and so takes a nonce)."""
        return self.jwks_url is not None


# (the `token_url` lines carry lint pragmas: they are URLs, not hard-coded secrets)
GOOGLE = Provider(
    name="google",
    # https://accounts.google.com/.well-known/openid-configuration
    authorize_url="https://accounts.google.com/o/oauth2/v2/auth",
    token_url="https://oauth2.googleapis.com/token",  # noqa: S106 # nosec B106
    jwks_url="https://www.googleapis.com/oauth2/v3/certs",
    userinfo_url="https://openidconnect.googleapis.com/v1/userinfo",
    # Google documents both forms of its issuer in id_tokens
    issuers=("https://accounts.google.com", "accounts.google.com"),
    scope="openid email profile",
)

GITHUB = Provider(
    name="github",
    authorize_url="https://github.com/login/oauth/authorize",
    token_url="https://github.com/login/oauth/access_token",  # noqa: S106 # nosec B106
    userinfo_url="https://api.github.com/user",
    emails_url="https://api.github.com/user/emails",
    scope="read:user user:email",
)

FACEBOOK = Provider(
    name="facebook",
    authorize_url="https://www.facebook.com/v19.0/dialog/oauth",
    token_url="https://graph.facebook.com/v19.0/oauth/access_token",  # noqa: S106 # nosec B106
    userinfo_url="https://graph.facebook.com/me?fields=id,name,email",
    scope="email public_profile",
    # "Manually Build a Login Flow" documents the exchange as a GET with query parameters
    exchange_by_get=True,
)

PROVIDERS: dict[str, Provider] = {p.name: p for p in (GOOGLE, GITHUB, FACEBOOK)}


@dataclass(frozen=True)
class ProviderConfig:
    """A provider as configured: defaults overlaid with the client registration's overrides."""

    provider: Provider
    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str
    userinfo_url: str | None
    emails_url: str | None
    jwks_url: str | None
    issuers: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.provider.name

    @property
    def openid(self) -> bool:
        return self.provider.openid

    @property
    def scope(self) -> str:
        return self.provider.scope

    @classmethod
    def resolve(cls, name: str, client: OAuthClient) -> ProviderConfig:
        provider = PROVIDERS[name]

        def pick(override: object, default: str | None) -> str | None:
            return str(override) if override is not None else default

        return cls(
            provider=provider,
            client_id=client.client_id,
            client_secret=client.client_secret.get_secret_value(),
            authorize_url=str(pick(client.authorize_url, provider.authorize_url)),
            token_url=str(pick(client.token_url, provider.token_url)),
            userinfo_url=pick(client.userinfo_url, provider.userinfo_url),
            emails_url=pick(client.emails_url, provider.emails_url),
            jwks_url=pick(client.jwks_url, provider.jwks_url),
            issuers=(client.issuer,) if client.issuer else provider.issuers,
        )
