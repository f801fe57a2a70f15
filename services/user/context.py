"""Everything a request handler of the user service needs, built once at start-up.

Routers get it with `Depends(ctx)`; tests build the app with their own settings and reach the
same object through `app.state.ctx`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
from fastapi import Request
from redis.asyncio import Redis

from kommerce.auth.claims import InvalidToken
from kommerce.auth.dependency import Authenticator
from kommerce.auth.verifier import TokenVerifier
from kommerce.data.cache import redis_client
from kommerce.data.db import Database
from kommerce.http.ratelimit import Limit, RateLimiter
from kommerce.mail import Mailer
from services.user.client import ClientInfo, client_info
from services.user.crypto import Keyring, keyring_for
from services.user.lockout import Lockout
from services.user.onetime import OneTimeTokens
from services.user.passwords import Hasher, PasswordPolicy
from services.user.sessions import Sessions
from services.user.settings import UserSettings
from services.user.signing import SigningKeys
from services.user.tables import SCHEMA
from services.user.tokens import TokenIssuer


@dataclass(frozen=True)
class Limits:
    login_ip: Limit
    login_account: Limit
    register_ip: Limit
    reset_ip: Limit
    reset_account: Limit

    @classmethod
    def from_settings(cls, s: UserSettings) -> Limits:
        return cls(
            login_ip=Limit("login:ip", s.login_per_ip_per_minute, 60),
            login_account=Limit("login:account", s.login_per_account_per_minute, 60),
            register_ip=Limit("register:ip", s.register_per_ip_per_hour, 3600),
            reset_ip=Limit("reset:ip", s.reset_per_ip_per_hour, 3600),
            reset_account=Limit("reset:account", s.reset_per_account_per_hour, 3600),
        )


class SelfIssuedKeys:
    """The user service verifies its own tokens with the keys it publishes. An unknown key id
    (another replica rotated) reloads them, at most once per `reload_cooldown` seconds, so
    tokens with made-up key ids cannot turn into a database query each."""

    def __init__(self, signing: SigningKeys, *, reload_cooldown: float = 10.0) -> None:
        self.signing = signing
        self.reload_cooldown = reload_cooldown

    def cached(self, kid: str) -> jwt.PyJWK | None:
        return self.signing.verification.get(kid)

    async def get(self, kid: str) -> jwt.PyJWK:
        found = self.cached(kid)
        if found is None and time.monotonic() - self.signing.loaded_at >= self.reload_cooldown:
            await self.signing.load()
            found = self.cached(kid)
        if found is None:
            raise InvalidToken(f"unknown signing key {kid!r}")
        return found


@dataclass
class UserContext:
    settings: UserSettings
    db: Database
    redis: Redis[Any]
    keyring: Keyring
    hasher: Hasher
    policy: PasswordPolicy
    onetime: OneTimeTokens
    signing: SigningKeys
    sessions: Sessions
    tokens: TokenIssuer
    limiter: RateLimiter
    limits: Limits
    lockout: Lockout
    mailer: Mailer | None
    auth: Authenticator

    @classmethod
    def build(cls, settings: UserSettings) -> UserContext:
        db = Database(url=settings.async_database_url(), schema=settings.schema_name)
        if settings.redis_url is None:
            raise RuntimeError("KOMMERCE_REDIS_URL is not set; run `eval $(kommerce stack env)`")
        redis = redis_client(str(settings.redis_url))
        keyring = keyring_for(settings)
        signing = SigningKeys(db, keyring, access_token_seconds=settings.access_token_seconds)
        sessions = Sessions(
            redis,
            ttl_seconds=settings.refresh_token_days * 86_400,
            access_token_seconds=settings.access_token_seconds,
        )
        mailer = (
            Mailer(settings.smtp_host, settings.smtp_port, settings.mail_from)
            if settings.smtp_host and settings.smtp_port
            else None
        )
        verifier = TokenVerifier(
            SelfIssuedKeys(signing), issuer=settings.issuer, audience=settings.audience
        )
        return cls(
            settings=settings,
            db=db,
            redis=redis,
            keyring=keyring,
            hasher=Hasher(settings.argon2),
            policy=PasswordPolicy(settings.password_min_length, settings.password_max_length),
            onetime=OneTimeTokens(keyring),
            signing=signing,
            sessions=sessions,
            tokens=TokenIssuer(
                signing,
                sessions,
                issuer=settings.issuer,
                audience=settings.audience,
                access_seconds=settings.access_token_seconds,
                refresh_days=settings.refresh_token_days,
            ),
            limiter=RateLimiter(redis, prefix="user:ratelimit"),
            limits=Limits.from_settings(settings),
            lockout=Lockout(
                redis,
                after=settings.lockout_after_failures,
                base_seconds=settings.lockout_base_seconds,
                cap_seconds=settings.lockout_max_seconds,
            ),
            mailer=mailer,
            auth=Authenticator(verifier, session_revoked=lambda p: sessions.revoked(p.session_id)),
        )

    @property
    def rotate_after(self) -> timedelta:
        return timedelta(days=self.settings.key_rotation_days)

    def client(self, request: Request) -> ClientInfo:
        return client_info(request, trust_forwarded_for=self.settings.trust_forwarded_for)


def ctx(request: Request) -> UserContext:
    context: UserContext = request.app.state.ctx
    return context


__all__ = ["SCHEMA", "UserContext", "ctx"]
