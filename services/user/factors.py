"""Second-factor flows: enrol, confirm, sign in with a code, step up, disable, new codes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import delete, func, update

from kommerce.auth.claims import Principal
from services.user import audit, mfa
from services.user.accounts import user_by_id
from services.user.client import ClientInfo
from services.user.context import UserContext
from services.user.errors import InvalidCode, InvalidCredentialsProblem, InvalidLinkToken, MfaState
from services.user.onetime import Purpose, TokenRejected
from services.user.tables import RECOVERY_CODES, USERS
from services.user.tokens import TokenPair


@dataclass(frozen=True)
class Enrolment:
    secret: str
    provisioning_uri: str


async def enroll(c: UserContext, principal: Principal, *, client: ClientInfo) -> Enrolment:
    user_id = uuid.UUID(principal.user_id)
    secret = mfa.new_secret()
    async with c.db.session() as session:
        user = await user_by_id(session, user_id)
        if user.totp_enabled_at is not None:
            raise MfaState("two-factor authentication is already on; disable it first")
        await session.execute(
            update(USERS)
            .where(USERS.c.id == user_id)
            .values(totp_secret=mfa.seal_secret(c.keyring, user_id, secret), totp_last_step=None)
        )
        await audit.record(
            session,
            action="mfa.enroll",
            outcome="success",
            client=client,
            actor_id=user_id,
            subject_id=user_id,
        )
    return Enrolment(secret, mfa.provisioning_uri(secret, email=user.email))


async def _check_code(c: UserContext, user_id: uuid.UUID, code: str) -> str | None:
    """Which factor `code` satisfied ("otp" or "recovery"), consuming it; None if refused."""
    async with c.db.session() as session:
        user = await user_by_id(session, user_id)
        if user is None or user.totp_secret is None:
            return None
        if mfa.looks_like_recovery_code(code):
            if user.totp_enabled_at is not None and await mfa.use_recovery_code(
                session, user_id, code
            ):
                return "recovery"
            return None
        secret = mfa.open_secret(c.keyring, user_id, user.totp_secret)
        step = mfa.matching_step(secret, code)
        if step is None or not await mfa.accept_step(session, user_id, step):
            return None
        return "otp"


async def confirm(
    c: UserContext, principal: Principal, *, code: str, client: ClientInfo
) -> list[str]:
    user_id = uuid.UUID(principal.user_id)
    async with c.db.session() as session:
        user = await user_by_id(session, user_id)
    if user.totp_secret is None or user.totp_enabled_at is not None:
        raise MfaState("start enrolment first (POST /v1/me/mfa/totp)")
    if await _check_code(c, user_id, code) != "otp":
        await _audit_failure(c, "mfa.confirm", user_id, client)
        raise InvalidCode("that code is not the current one; check the authenticator's clock")
    codes = mfa.new_recovery_codes()
    async with c.db.session() as session:
        await session.execute(
            update(USERS).where(USERS.c.id == user_id).values(totp_enabled_at=func.now())
        )
        await mfa.store_recovery_codes(session, user_id, codes)
        await audit.record(
            session,
            action="mfa.enable",
            outcome="success",
            client=client,
            actor_id=user_id,
            subject_id=user_id,
        )
    return codes


async def _audit_failure(
    c: UserContext, action: str, user_id: uuid.UUID | None, client: ClientInfo, **details: str
) -> None:
    async with c.db.session() as session:
        await audit.record(
            session,
            action=action,
            outcome="failure",
            client=client,
            actor_id=user_id,
            subject_id=user_id,
            **details,
        )


async def complete_login(
    c: UserContext, *, mfa_token: str, code: str, client: ClientInfo
) -> TokenPair:
    """The second step of a sign-in: the challenge from the password step plus a code."""
    try:
        found = c.onetime.inspect(mfa_token, Purpose.MFA_CHALLENGE)
    except TokenRejected as exc:
        raise InvalidLinkToken(
            f"the sign-in challenge is {exc.reason}; sign in again", reason=exc.reason
        ) from exc
    await c.limiter.enforce(c.limits.login_account, f"mfa:{found.user_id}")
    factor = await _check_code(c, found.user_id, code)
    if factor is None:
        await _audit_failure(c, "auth.mfa", found.user_id, client, reason="wrong or reused code")
        raise InvalidCode("the code was wrong or already used")
    async with c.db.session() as session:
        try:
            await c.onetime.redeem(session, mfa_token, Purpose.MFA_CHALLENGE)
        except TokenRejected as exc:
            raise InvalidLinkToken(
                f"the sign-in challenge is {exc.reason}; sign in again", reason=exc.reason
            ) from exc
        amr = [found.data.get("amr", "pwd"), factor]
        tokens = await c.tokens.start_session(
            session, user_id=found.user_id, amr=amr, client=client
        )
        await audit.record(
            session,
            action="auth.mfa",
            outcome="success",
            client=client,
            actor_id=found.user_id,
            subject_id=found.user_id,
            factor=factor,
            session_id=tokens.session_id,
        )
    return tokens


async def step_up(
    c: UserContext,
    principal: Principal,
    *,
    password: str | None,
    code: str | None,
    client: ClientInfo,
) -> str:
    """Re-authenticate within the current session: a fresh access token (new auth_time)."""
    user_id = uuid.UUID(principal.user_id)
    await c.limiter.enforce(c.limits.login_account, f"step-up:{user_id}")
    async with c.db.session() as session:
        user = await user_by_id(session, user_id)
    amr: list[str] = []
    if user.password_hash is not None:
        if password is None or not (await c.hasher.verify(user.password_hash, password)).ok:
            await _audit_failure(c, "auth.step_up", user_id, client, reason="bad password")
            raise InvalidCredentialsProblem("the password is incorrect")
        amr.append("pwd")
    if user.totp_enabled_at is not None:
        factor = await _check_code(c, user_id, code) if code else None
        if factor is None:
            await _audit_failure(c, "auth.step_up", user_id, client, reason="bad code")
            raise InvalidCode("a current two-factor code is required")
        amr.append(factor)
    if not amr:
        raise MfaState("this account has neither a password nor two-factor authentication")
    async with c.db.session() as session:
        token = await c.tokens.step_up(
            session, user_id=user_id, session_id=principal.session_id, amr=amr
        )
        await audit.record(
            session,
            action="auth.step_up",
            outcome="success",
            client=client,
            actor_id=user_id,
            subject_id=user_id,
        )
    return token


async def disable(c: UserContext, principal: Principal, *, client: ClientInfo) -> None:
    user_id = uuid.UUID(principal.user_id)
    async with c.db.session() as session:
        await session.execute(
            update(USERS)
            .where(USERS.c.id == user_id)
            .values(totp_secret=None, totp_enabled_at=None, totp_last_step=None)
        )
        await session.execute(delete(RECOVERY_CODES).where(RECOVERY_CODES.c.user_id == user_id))
        await audit.record(
            session,
            action="mfa.disable",
            outcome="success",
            client=client,
            actor_id=user_id,
            subject_id=user_id,
        )


async def regenerate_codes(
    c: UserContext, principal: Principal, *, client: ClientInfo
) -> list[str]:
    user_id = uuid.UUID(principal.user_id)
    codes = mfa.new_recovery_codes()
    async with c.db.session() as session:
        user = await user_by_id(session, user_id)
        if user.totp_enabled_at is None:
            raise MfaState("two-factor authentication is off")
        await mfa.store_recovery_codes(session, user_id, codes)
        await audit.record(
            session,
            action="mfa.recovery_codes",
            outcome="success",
            client=client,
            actor_id=user_id,
            subject_id=user_id,
        )
    return codes


async def enrolled(c: UserContext, principal: Principal) -> bool:
    async with c.db.session() as session:
        user = await user_by_id(session, uuid.UUID(principal.user_id))
    return user is not None and user.totp_enabled_at is not None
