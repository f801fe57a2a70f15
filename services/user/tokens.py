"""Access and refresh tokens: issuing, refreshing with rotation, reuse detection, revocation.

- Access token: a short-lived JWT (`access_token_seconds`, default 5 min) signed by
  `signing.SigningKeys`; other services verify it alone (`kommerce.auth`).
- Refresh token: 256 random bits, stored as a SHA-256 digest. Every use returns a new one and
  marks the old one used, in one conditional UPDATE, so of two concurrent uses only one wins.
  Presenting a used token again is reuse — someone holds a copy — and revokes the whole family
  (the session), for the thief and the owner alike (OAuth 2.0 Security BCP, section 4.14).
- Revoking a session revokes its family; access tokens already issued for it stay valid until
  they expire (at most `access_token_seconds`): the price of verification without a lookup.
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.auth.claims import access_claims
from kommerce.auth.roles import DEFAULT_ROLES
from services.user.client import ClientInfo
from services.user.crypto import digest
from services.user.sessions import Sessions
from services.user.signing import SigningKeys
from services.user.tables import REFRESH_TOKENS, USER_ROLES

REFRESH_PREFIX = "krt_"  # recognisable in logs and by secret scanners


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    session_id: str
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token_type, not a secret


class RefreshOutcome(StrEnum):
    OK = "ok"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REVOKED = "revoked"
    REUSED = "reused"


@dataclass(frozen=True)
class Refreshed:
    outcome: RefreshOutcome
    user_id: uuid.UUID | None = None
    session_id: str | None = None
    tokens: TokenPair | None = None


async def roles_of(session: AsyncSession, user_id: uuid.UUID) -> list[str]:
    rows = await session.execute(
        select(USER_ROLES.c.role).where(USER_ROLES.c.user_id == user_id).order_by(USER_ROLES.c.role)
    )
    roles = [r for (r,) in rows]
    return roles or [r.value for r in DEFAULT_ROLES]


class TokenIssuer:
    def __init__(
        self,
        keys: SigningKeys,
        sessions: Sessions,
        *,
        issuer: str,
        audience: str,
        access_seconds: int,
        refresh_days: int,
    ) -> None:
        self.keys = keys
        self.sessions = sessions
        self.issuer = issuer
        self.audience = audience
        self.access_seconds = access_seconds
        self.refresh_lifetime = timedelta(days=refresh_days)

    def access_token(
        self,
        *,
        user_id: uuid.UUID,
        session_id: str,
        roles: list[str],
        amr: list[str],
        auth_time: int,
    ) -> str:
        claims = access_claims(
            issuer=self.issuer,
            audience=self.audience,
            user_id=str(user_id),
            session_id=session_id,
            roles=roles,
            amr=amr,
            lifetime_seconds=self.access_seconds,
            auth_time=auth_time,
        )
        return self.keys.sign(claims)

    async def start_session(
        self,
        session: AsyncSession,
        *,
        user_id: uuid.UUID,
        amr: list[str],
        client: ClientInfo,
    ) -> TokenPair:
        """A new sign-in: a new token family (= session), inside the caller's transaction."""
        family = uuid.uuid4()
        now = datetime.now(UTC)
        refresh = await self._insert_refresh(
            session, family=family, user_id=user_id, parent=None, amr=amr, auth_time=now
        )
        roles = await roles_of(session, user_id)
        access = self.access_token(
            user_id=user_id,
            session_id=str(family),
            roles=roles,
            amr=amr,
            auth_time=int(now.timestamp()),
        )
        await self.sessions.start(sid=str(family), user_id=str(user_id), client=client, amr=amr)
        return TokenPair(access, refresh, self.access_seconds, str(family))

    async def step_up(
        self, session: AsyncSession, *, user_id: uuid.UUID, session_id: str, amr: list[str]
    ) -> str:
        """A fresh access token for the same session after re-authentication."""
        roles = await roles_of(session, user_id)
        return self.access_token(
            user_id=user_id,
            session_id=session_id,
            roles=roles,
            amr=amr,
            auth_time=int(time.time()),
        )

    async def _insert_refresh(
        self,
        session: AsyncSession,
        *,
        family: uuid.UUID,
        user_id: uuid.UUID,
        parent: uuid.UUID | None,
        amr: list[str],
        auth_time: datetime,
    ) -> str:
        raw = REFRESH_PREFIX + secrets.token_urlsafe(32)
        await session.execute(
            insert(REFRESH_TOKENS).values(
                id=uuid.uuid4(),
                family_id=family,
                user_id=user_id,
                token_hash=digest(raw),
                parent_id=parent,
                amr=amr,
                auth_time=auth_time,
                expires_at=datetime.now(UTC) + self.refresh_lifetime,
            )
        )
        return raw

    async def refresh(self, session: AsyncSession, raw: str, *, client: ClientInfo) -> Refreshed:
        """Rotate a refresh token. On reuse the family is revoked in this transaction: the
        caller commits and then refuses the request (never raise before committing)."""
        hashed = digest(raw)
        claimed = (
            await session.execute(
                update(REFRESH_TOKENS)
                .where(
                    and_(
                        REFRESH_TOKENS.c.token_hash == hashed,
                        REFRESH_TOKENS.c.used_at.is_(None),
                        REFRESH_TOKENS.c.revoked_at.is_(None),
                        REFRESH_TOKENS.c.expires_at > func.now(),
                    )
                )
                .values(used_at=func.now())
                .returning(
                    REFRESH_TOKENS.c.id,
                    REFRESH_TOKENS.c.family_id,
                    REFRESH_TOKENS.c.user_id,
                    REFRESH_TOKENS.c.amr,
                    REFRESH_TOKENS.c.auth_time,
                )
            )
        ).first()
        if claimed is None:
            return await self._refused(session, hashed)
        amr = list(claimed.amr)
        new_raw = await self._insert_refresh(
            session,
            family=claimed.family_id,
            user_id=claimed.user_id,
            parent=claimed.id,
            amr=amr,
            auth_time=claimed.auth_time,
        )
        roles = await roles_of(session, claimed.user_id)
        access = self.access_token(
            user_id=claimed.user_id,
            session_id=str(claimed.family_id),
            roles=roles,
            amr=amr,
            auth_time=int(claimed.auth_time.timestamp()),
        )
        await self.sessions.touch(
            sid=str(claimed.family_id), user_id=str(claimed.user_id), client=client, amr=amr
        )
        return Refreshed(
            RefreshOutcome.OK,
            claimed.user_id,
            str(claimed.family_id),
            TokenPair(access, new_raw, self.access_seconds, str(claimed.family_id)),
        )

    async def _refused(self, session: AsyncSession, hashed: bytes) -> Refreshed:
        row = (
            await session.execute(
                select(
                    REFRESH_TOKENS.c.family_id,
                    REFRESH_TOKENS.c.user_id,
                    REFRESH_TOKENS.c.used_at,
                    REFRESH_TOKENS.c.revoked_at,
                ).where(REFRESH_TOKENS.c.token_hash == hashed)
            )
        ).first()
        if row is None:
            return Refreshed(RefreshOutcome.UNKNOWN)
        sid = str(row.family_id)
        if row.revoked_at is not None:
            return Refreshed(RefreshOutcome.REVOKED, row.user_id, sid)
        if row.used_at is not None:
            await self.revoke_sessions(session, row.user_id, [sid], reason="refresh token reused")
            return Refreshed(RefreshOutcome.REUSED, row.user_id, sid)
        return Refreshed(RefreshOutcome.EXPIRED, row.user_id, sid)

    async def revoke_sessions(
        self, session: AsyncSession, user_id: uuid.UUID, sids: list[str], *, reason: str
    ) -> list[str]:
        """Revoke the named sessions of a user (their refresh families); returns those ended."""
        families = [uuid.UUID(s) for s in sids]
        result = await session.execute(
            update(REFRESH_TOKENS)
            .where(
                and_(
                    REFRESH_TOKENS.c.user_id == user_id,
                    REFRESH_TOKENS.c.family_id.in_(families),
                    REFRESH_TOKENS.c.revoked_at.is_(None),
                )
            )
            .values(revoked_at=func.now(), revoked_reason=reason)
            .returning(REFRESH_TOKENS.c.family_id)
        )
        ended = sorted({str(f) for (f,) in result})
        await self.sessions.end(user_id=str(user_id), sids=sids)
        return ended

    async def revoke_all(
        self, session: AsyncSession, user_id: uuid.UUID, *, reason: str, keep: str | None = None
    ) -> list[str]:
        """Log out everywhere (except session `keep`, e.g. the one changing the password)."""
        rows = await session.execute(
            select(REFRESH_TOKENS.c.family_id)
            .where(and_(REFRESH_TOKENS.c.user_id == user_id, REFRESH_TOKENS.c.revoked_at.is_(None)))
            .distinct()
        )
        sids = [str(f) for (f,) in rows if str(f) != keep]
        listed = await self.sessions.active(str(user_id))
        sids += [s.session_id for s in listed if s.session_id != keep]
        return await self.revoke_sessions(session, user_id, sorted(set(sids)), reason=reason)
