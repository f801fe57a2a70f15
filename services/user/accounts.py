"""Accounts: registration, email verification, sign-in, sign-out, password reset and change.

Nothing here tells a caller whether an email address has an account: registration, resending the
verification mail and requesting a reset answer the same way either way (the mail tells the
owner of the address what happened), and a failed sign-in says only "email or password is
incorrect" after the same argon2 work. See docs/user-service.md for the flows.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.auth.claims import Principal
from kommerce.auth.roles import DEFAULT_ROLES
from kommerce.mail import MailError
from services.user import audit
from services.user.client import ClientInfo
from services.user.context import UserContext
from services.user.errors import (
    AccountDisabled,
    AccountLocked,
    InvalidCredentialsProblem,
    InvalidEmail,
    InvalidLinkToken,
    InvalidRefreshToken,
    PasswordRejected,
)
from services.user.events import emit
from services.user.onetime import Purpose, TokenRejected
from services.user.tables import USER_ROLES, USERS
from services.user.tokens import RefreshOutcome, TokenPair

log = logging.getLogger("kommerce.user.accounts")
SIGN_IN_FAILED = "email or password is incorrect"


def normalise_email(raw: str) -> str:
    try:
        return str(validate_email(raw, check_deliverability=False).normalized)
    except EmailNotValidError as exc:
        raise InvalidEmail(str(exc)) from exc


def check_password(c: UserContext, password: str, *, email: str) -> None:
    problems = c.policy.problems(password, email=email)
    if problems:
        raise PasswordRejected("; ".join(problems), problems=problems)


async def user_by_email(session: AsyncSession, email: str) -> Any:
    return (
        await session.execute(select(USERS).where(func.lower(USERS.c.email) == email.lower()))
    ).first()


async def user_by_id(session: AsyncSession, user_id: uuid.UUID) -> Any:
    return (await session.execute(select(USERS).where(USERS.c.id == user_id))).first()


async def send_mail(c: UserContext, *, to: str, subject: str, text: str) -> None:
    """Mail after commit; a mail failure is logged, never turned into a different response."""
    if c.mailer is None:
        log.warning("no SMTP server configured; mail not sent", extra={"subject": subject})
        return
    try:
        await c.mailer.send(to=to, subject=subject, text=text)
    except MailError as exc:
        log.error("mail not sent", extra={"subject": subject, "error": str(exc)})


def _link(base: object, token: str) -> str:
    return f"{base}?{urlencode({'token': token})}"


async def verification_token(
    c: UserContext, session: AsyncSession, user_id: uuid.UUID, email: str
) -> str:
    """A verification link token for `email` (verify_email refuses it once the account has
    moved to another address)."""
    return await c.onetime.issue(
        session,
        user_id=user_id,
        purpose=Purpose.VERIFY_EMAIL,
        ttl_seconds=c.settings.verification_token_hours * 3600,
        data={"email": email.lower()},
    )


async def account_created(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    locale: str,
    client: ClientInfo,
    **details: Any,
) -> None:
    """What every new account gets, however it was made: the default roles, the
    `user.registered` event and its audit entry (in the creating transaction)."""
    await session.execute(
        insert(USER_ROLES).values([{"user_id": user_id, "role": r.value} for r in DEFAULT_ROLES])
    )
    await emit(session, "user.registered", {"user_id": str(user_id), "locale": locale})
    await audit.record(
        session,
        action="account.register",
        outcome="success",
        client=client,
        actor_id=user_id,
        subject_id=user_id,
        **details,
    )


async def register(
    c: UserContext,
    *,
    email: str,
    password: str,
    display_name: str,
    locale: str,
    client: ClientInfo,
) -> None:
    await c.limiter.enforce(c.limits.register_ip, client.ip)
    email = normalise_email(email)
    check_password(c, password, email=email)
    password_hash = await c.hasher.hash(password)
    user_id = uuid.uuid4()
    token: str | None = None
    async with c.db.session() as session:
        inserted = (
            await session.execute(
                pg_insert(USERS)
                .values(
                    id=user_id,
                    email=email,
                    password_hash=password_hash,
                    password_changed_at=func.now(),
                    display_name=display_name,
                    locale=locale,
                )
                .on_conflict_do_nothing()
                .returning(USERS.c.id)
            )
        ).first()
        if inserted is None:
            existing = await user_by_email(session, email)
            await audit.record(
                session,
                action="account.register",
                outcome="failure",
                client=client,
                subject_id=existing.id if existing else None,
                reason="email already registered",
            )
        else:
            await account_created(session, user_id, locale=locale, client=client)
            token = await verification_token(c, session, user_id, email)
    if token is not None:
        await send_mail(
            c,
            to=email,
            subject="Confirm your email address",
            text="Welcome to Kommerce. Confirm your address within "
            f"{c.settings.verification_token_hours} hours:\n\n"
            f"{_link(c.settings.verify_email_url, token)}\n",
        )
    else:
        await send_mail(
            c,
            to=email,
            subject="Someone tried to register with your address",
            text="Someone (maybe you) tried to create a Kommerce account with this address, "
            "which already has one. If it was you, sign in or reset your password. "
            "Otherwise you can ignore this message.\n",
        )


async def verify_email(c: UserContext, *, token: str, client: ClientInfo) -> uuid.UUID:
    async with c.db.session() as session:
        try:
            redeemed = await c.onetime.redeem(session, token, Purpose.VERIFY_EMAIL)
        except TokenRejected as exc:
            raise InvalidLinkToken(
                f"this verification link is {_reason(exc.reason)}; ask for a new one",
                reason=exc.reason,
            ) from exc
        user = await user_by_id(session, redeemed.user_id)
        if user is None or user.email.lower() != redeemed.data.get("email"):
            raise InvalidLinkToken(
                "this link was sent for another address; ask for a new one", reason="stale"
            )
        if user.email_verified_at is None:
            await session.execute(
                update(USERS)
                .where(USERS.c.id == user.id)
                .values(email_verified_at=func.now(), updated_at=func.now())
            )
            await emit(session, "user.email_verified", {"user_id": str(user.id), "method": "link"})
        await audit.record(
            session,
            action="account.verify_email",
            outcome="success",
            client=client,
            actor_id=user.id,
            subject_id=user.id,
        )
        return uuid.UUID(str(user.id))


def _reason(reason: str) -> str:
    return {"expired": "expired", "used": "already used"}.get(reason, "not valid")


async def resend_verification(c: UserContext, *, email: str, client: ClientInfo) -> None:
    await c.limiter.enforce(c.limits.register_ip, client.ip)
    email = normalise_email(email)
    async with c.db.session() as session:
        user = await user_by_email(session, email)
        if user is None or user.email_verified_at is not None:
            return
        token = await verification_token(c, session, user.id, user.email)
    await send_mail(
        c,
        to=user.email,
        subject="Confirm your email address",
        text=f"Confirm your address:\n\n{_link(c.settings.verify_email_url, token)}\n",
    )


@dataclass(frozen=True)
class SignIn:
    tokens: TokenPair | None = None
    mfa_token: str | None = None


async def start_sign_in(
    c: UserContext,
    session: AsyncSession,
    user: Any,
    *,
    amr: str,
    action: str,
    client: ClientInfo,
    **details: Any,
) -> SignIn:
    """The first factor (`amr`) checked out: tokens, or a second-factor challenge when the
    account has TOTP on (POST /v1/auth/mfa completes it). Audited as `action`."""
    if user.totp_enabled_at is not None:
        challenge = await c.onetime.issue(
            session,
            user_id=user.id,
            purpose=Purpose.MFA_CHALLENGE,
            ttl_seconds=c.settings.mfa_challenge_minutes * 60,
            data={"amr": amr},
        )
        await audit.record(
            session,
            action=action,
            outcome="success",
            client=client,
            actor_id=user.id,
            subject_id=user.id,
            step=f"{amr}; second factor required",
            **details,
        )
        return SignIn(mfa_token=challenge)
    tokens = await c.tokens.start_session(session, user_id=user.id, amr=[amr], client=client)
    await audit.record(
        session,
        action=action,
        outcome="success",
        client=client,
        actor_id=user.id,
        subject_id=user.id,
        session_id=tokens.session_id,
        **details,
    )
    return SignIn(tokens=tokens)


async def login(c: UserContext, *, email: str, password: str, client: ClientInfo) -> SignIn:
    typed = email.strip().lower()
    await c.limiter.enforce(c.limits.login_ip, client.ip)
    await c.limiter.enforce(c.limits.login_account, typed)
    locked = await c.lockout.locked_for(typed)
    if locked:
        raise AccountLocked(
            f"too many failed sign-ins; try again in {locked} s or reset your password",
            headers={"Retry-After": str(locked)},
        )
    async with c.db.session() as session:
        user = await user_by_email(session, typed)
    checked = await c.hasher.verify(user.password_hash if user else None, password)
    if not checked.ok:
        await c.lockout.failed(typed)
        async with c.db.session() as session:
            await audit.record(
                session,
                action="auth.login",
                outcome="failure",
                client=client,
                subject_id=user.id if user else None,
                reason="bad credentials",
            )
        raise InvalidCredentialsProblem(SIGN_IN_FAILED)
    if user.status != "active":
        raise AccountDisabled("this account is disabled; contact support")
    await c.lockout.succeeded(typed)
    async with c.db.session() as session:
        if checked.needs_rehash:
            await session.execute(
                update(USERS)
                .where(USERS.c.id == user.id)
                .values(password_hash=await c.hasher.hash(password))
            )
        return await start_sign_in(
            c,
            session,
            user,
            amr="pwd",
            action="auth.login",
            client=client,
            rehashed=checked.needs_rehash,
        )


async def refresh(c: UserContext, *, refresh_token: str, client: ClientInfo) -> TokenPair:
    async with c.db.session() as session:
        result = await c.tokens.refresh(session, refresh_token, client=client)
        if result.outcome is not RefreshOutcome.OK:
            await audit.record(
                session,
                action="auth.refresh",
                outcome="denied",
                client=client,
                subject_id=result.user_id,
                reason=result.outcome.value,
                session_id=result.session_id,
            )
    # committed: a reuse has revoked the family before we refuse
    if result.tokens is None:
        message = {
            RefreshOutcome.REUSED: "this refresh token was already used; the session is revoked "
            "for safety, sign in again",
            RefreshOutcome.REVOKED: "the session was signed out; sign in again",
            RefreshOutcome.EXPIRED: "the refresh token has expired; sign in again",
        }.get(result.outcome, "unknown refresh token; sign in again")
        raise InvalidRefreshToken(message, reason=result.outcome.value)
    return result.tokens


async def logout(c: UserContext, principal: Principal, *, client: ClientInfo) -> None:
    user_id = uuid.UUID(principal.user_id)
    async with c.db.session() as session:
        await c.tokens.revoke_sessions(
            session, user_id, [principal.session_id], reason="signed out"
        )
        await audit.record(
            session,
            action="auth.logout",
            outcome="success",
            client=client,
            actor_id=user_id,
            subject_id=user_id,
            session_id=principal.session_id,
        )


async def request_password_reset(c: UserContext, *, email: str, client: ClientInfo) -> None:
    await c.limiter.enforce(c.limits.reset_ip, client.ip)
    email = normalise_email(email)
    await c.limiter.enforce(c.limits.reset_account, email.lower())
    async with c.db.session() as session:
        user = await user_by_email(session, email)
        if user is None:
            await audit.record(
                session,
                action="account.password_reset_requested",
                outcome="failure",
                client=client,
                reason="no such account",
            )
            return
        ttl = c.settings.reset_token_minutes * 60
        token = await c.onetime.issue(
            session, user_id=user.id, purpose=Purpose.RESET_PASSWORD, ttl_seconds=ttl
        )
        expires = (datetime.now(UTC) + timedelta(seconds=ttl)).isoformat()
        await emit(
            session,
            "user.password_reset_requested",
            {"user_id": str(user.id), "expires_at": expires},
        )
        await audit.record(
            session,
            action="account.password_reset_requested",
            outcome="success",
            client=client,
            subject_id=user.id,
        )
    await send_mail(
        c,
        to=user.email,
        subject="Reset your password",
        text=f"Reset your Kommerce password within {c.settings.reset_token_minutes} minutes:\n\n"
        f"{_link(c.settings.reset_password_url, token)}\n\n"
        "If you did not ask for this, ignore this message; your password stays as it is.\n",
    )


async def reset_password(
    c: UserContext, *, token: str, new_password: str, client: ClientInfo
) -> None:
    try:
        found = c.onetime.inspect(token, Purpose.RESET_PASSWORD)
    except TokenRejected as exc:
        raise InvalidLinkToken(
            f"this reset link is {_reason(exc.reason)}; ask for a new one", reason=exc.reason
        ) from exc
    async with c.db.session() as session:
        user = await user_by_id(session, found.user_id)
    if user is None:
        raise InvalidLinkToken("this reset link is not valid; ask for a new one", reason="stale")
    check_password(c, new_password, email=user.email)
    password_hash = await c.hasher.hash(new_password)
    async with c.db.session() as session:
        try:
            await c.onetime.redeem(session, token, Purpose.RESET_PASSWORD)
        except TokenRejected as exc:
            raise InvalidLinkToken(
                f"this reset link is {_reason(exc.reason)}; ask for a new one",
                reason=exc.reason,
            ) from exc
        await session.execute(
            update(USERS)
            .where(USERS.c.id == user.id)
            .values(
                password_hash=password_hash,
                password_changed_at=func.now(),
                updated_at=func.now(),
                # the mail proved ownership of the address
                email_verified_at=func.coalesce(USERS.c.email_verified_at, func.now()),
            )
        )
        ended = await c.tokens.revoke_all(session, user.id, reason="password reset")
        await audit.record(
            session,
            action="account.password_reset",
            outcome="success",
            client=client,
            actor_id=user.id,
            subject_id=user.id,
            sessions_revoked=len(ended),
        )
    await c.lockout.succeeded(user.email)
    await send_mail(
        c,
        to=user.email,
        subject="Your password was changed",
        text="Your Kommerce password was reset and every session was signed out. If this was "
        "not you, reset it again now and contact support.\n",
    )


async def change_password(
    c: UserContext,
    principal: Principal,
    *,
    new_password: str,
    client: ClientInfo,
) -> list[str]:
    """Set a new password (the route requires a recent step-up); other sessions end."""
    user_id = uuid.UUID(principal.user_id)
    async with c.db.session() as session:
        user = await user_by_id(session, user_id)
    check_password(c, new_password, email=user.email)
    password_hash = await c.hasher.hash(new_password)
    async with c.db.session() as session:
        await session.execute(
            update(USERS)
            .where(USERS.c.id == user_id)
            .values(
                password_hash=password_hash,
                password_changed_at=func.now(),
                updated_at=func.now(),
            )
        )
        ended = await c.tokens.revoke_all(
            session, user_id, reason="password changed", keep=principal.session_id
        )
        await audit.record(
            session,
            action="account.password_change",
            outcome="success",
            client=client,
            actor_id=user_id,
            subject_id=user_id,
            sessions_revoked=len(ended),
        )
    await send_mail(
        c,
        to=user.email,
        subject="Your password was changed",
        text="Your Kommerce password was changed and your other sessions were signed out. "
        "If this was not you, reset your password now.\n",
    )
    return ended


async def change_email(
    c: UserContext, principal: Principal, *, new_email: str, client: ClientInfo
) -> None:
    """Move the account to a new address (unverified until its link is followed). If another
    account has that address, nothing changes and that address's owner is told instead: the
    answer is the same either way."""
    user_id = uuid.UUID(principal.user_id)
    new_email = normalise_email(new_email)
    token: str | None = None
    async with c.db.session() as session:
        user = await user_by_id(session, user_id)
        taken = await user_by_email(session, new_email)
        if taken is None:
            await session.execute(
                update(USERS)
                .where(USERS.c.id == user_id)
                .values(email=new_email, email_verified_at=None, updated_at=func.now())
            )
            token = await verification_token(c, session, user_id, new_email)
        await audit.record(
            session,
            action="account.email_change",
            outcome="success" if taken is None else "failure",
            client=client,
            actor_id=user_id,
            subject_id=user_id,
            reason="" if taken is None else "address in use",
        )
    if token is not None:
        await send_mail(
            c,
            to=new_email,
            subject="Confirm your new email address",
            text=f"Confirm your new address:\n\n{_link(c.settings.verify_email_url, token)}\n",
        )
        await send_mail(
            c,
            to=user.email,
            subject="Your email address was changed",
            text=f"Your Kommerce account now uses {new_email}. If this was not you, "
            "contact support now.\n",
        )
    elif taken is not None and taken.id != user_id:
        await send_mail(
            c,
            to=taken.email,
            subject="Someone tried to use your address",
            text="Someone tried to move another Kommerce account to this address. "
            "Nothing changed; you can ignore this message.\n",
        )
