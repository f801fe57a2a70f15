"""What a provider sign-in means for our accounts: sign in, link, create, unlink.

The rules (why they are strict):
- An identity already linked (provider + subject) signs in to its account, whatever its email
  says now: the provider's subject is the stable key, an email can change hands.
- Otherwise an existing account is linked only when the provider vouches for the address
  (verified) AND the account has confirmed it too. An unverified provider address never links:
  anyone can type someone else's address at some providers. A matching account whose address
  is not confirmed is not taken over either (it may have been registered by someone who does
  not own the address, waiting for the owner to sign in with a provider: "pre-hijacking").
- With no such account, a new one is created from the provider's verified address, without a
  password. Without a verified address there is no account to create.
- Unlinking never removes the last way to sign in (no password and no other identity).
Every outcome is written to the audit log; refusals in their own transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.http.errors import Conflict, NotFound, Problem
from services.user import audit
from services.user.accounts import (
    SignIn,
    account_created,
    start_sign_in,
    user_by_email,
    user_by_id,
)
from services.user.client import ClientInfo
from services.user.context import UserContext
from services.user.errors import AccountDisabled
from services.user.events import emit
from services.user.oauth.flow import Completed, ExternalIdentity, OAuthError
from services.user.tables import IDENTITIES, USERS

AMR = "oauth"


class OAuthFailed(Problem):
    status, slug, title = 400, "oauth-failed", "Sign-in with the provider failed"


class ProviderEmailUnverified(Problem):
    status, slug, title = 403, "provider-email-unverified", "The provider did not verify the email"


class AccountExists(Conflict):
    slug, title = "account-exists", "An account with this email address exists"


class IdentityInUse(Conflict):
    slug, title = "identity-in-use", "This provider account is linked to another account"


class LastSignInMethod(Conflict):
    slug, title = "last-sign-in-method", "This is the account's only way to sign in"


@dataclass(frozen=True)
class Identity:
    provider: str
    subject: str
    email: str
    linked_at: datetime


async def _refuse(
    c: UserContext,
    problem: Problem,
    *,
    action: str,
    outcome: str,
    client: ClientInfo,
    actor_id: uuid.UUID | None = None,
    subject_id: uuid.UUID | None = None,
    **details: Any,
) -> NoReturn:
    async with c.db.session() as session:
        await audit.record(
            session,
            action=action,
            outcome=outcome,
            client=client,
            actor_id=actor_id,
            subject_id=subject_id,
            **details,
        )
    raise problem


async def flow_failed(
    c: UserContext, error: OAuthError, *, provider: str, client: ClientInfo
) -> NoReturn:
    """Audit a refused callback and answer with a problem carrying the reason."""
    await _refuse(
        c,
        OAuthFailed(_explain(error), reason=error.reason, provider_error=error.provider_error),
        action="auth.oauth",
        outcome="denied" if error.reason == "provider_error" else "failure",
        client=client,
        provider=provider,
        reason=error.reason,
        detail=error.detail[:200],
    )


def _explain(error: OAuthError) -> str:
    return {
        "state_unknown": "this sign-in link is unknown, expired or already used; start again",
        "state_provider_mismatch": "this sign-in was started with another provider; start again",
        "browser_mismatch": "this sign-in was started in another browser; start again here",
        "provider_error": "the provider did not sign you in"
        + (f" ({error.provider_error})" if error.provider_error else ""),
        "nonce_mismatch": "the provider's answer does not belong to this sign-in",
        "nonce_replayed": "the provider's answer was already used",
    }.get(error.reason, "the provider's answer could not be checked; start again")


async def _identity(session: AsyncSession, provider: str, subject: str) -> Any:
    return (
        await session.execute(
            select(IDENTITIES).where(
                IDENTITIES.c.provider == provider, IDENTITIES.c.subject == subject
            )
        )
    ).first()


async def _start(
    c: UserContext, session: AsyncSession, user: Any, *, client: ClientInfo, **details: Any
) -> SignIn:
    return await start_sign_in(
        c, session, user, amr=AMR, action="auth.oauth", client=client, **details
    )


async def sign_in(c: UserContext, done: Completed, *, client: ClientInfo) -> SignIn:
    """Sign in with a completed provider flow (purpose "login")."""
    ext = done.identity
    where = {"provider": ext.provider}
    refusal: tuple[Problem, str, uuid.UUID | None, str] | None = None
    async with c.db.session() as session:
        linked = await _identity(session, ext.provider, ext.subject)
        if linked is not None:
            user = await user_by_id(session, linked.user_id)
            if user.status != "active":
                refusal = (
                    AccountDisabled("this account is disabled; contact support"),
                    "denied",
                    user.id,
                    "account disabled",
                )
            else:
                if ext.email and ext.email != linked.email:
                    await session.execute(
                        update(IDENTITIES)
                        .where(
                            IDENTITIES.c.provider == ext.provider,
                            IDENTITIES.c.subject == ext.subject,
                        )
                        .values(email=ext.email)
                    )
                return await _start(c, session, user, client=client, how="linked", **where)
        elif not (ext.email and ext.email_verified):
            existing = await user_by_email(session, ext.email) if ext.email else None
            refusal = (
                ProviderEmailUnverified(
                    f"{ext.provider} has not verified an email address for this account; "
                    "verify it there, or sign in another way and link "
                    f"{ext.provider} from your account settings"
                ),
                "denied",
                existing.id if existing else None,
                "provider email unverified",
            )
        else:
            existing = await user_by_email(session, ext.email)
            if existing is not None and existing.email_verified_at is None:
                refusal = (
                    AccountExists(
                        "an account with this address exists but has not confirmed it; sign "
                        f"in with your password and link {ext.provider} from your settings"
                    ),
                    "denied",
                    existing.id,
                    "local email unverified",
                )
            elif existing is not None:
                if existing.status != "active":
                    refusal = (
                        AccountDisabled("this account is disabled; contact support"),
                        "denied",
                        existing.id,
                        "account disabled",
                    )
                elif not await _insert_identity(session, existing.id, ext):
                    refusal = (
                        IdentityInUse(
                            f"this account already has another {ext.provider} account linked"
                        ),
                        "failure",
                        existing.id,
                        "another identity of this provider is linked",
                    )
                else:
                    await audit.record(
                        session,
                        action="identity.link",
                        outcome="success",
                        client=client,
                        actor_id=existing.id,
                        subject_id=existing.id,
                        how="verified email",
                        **where,
                    )
                    return await _start(
                        c, session, existing, client=client, how="linked by email", **where
                    )
            else:
                user = await _create(session, ext, client=client)
                if user is not None:
                    return await _start(c, session, user, client=client, how="new account", **where)
                refusal = (
                    AccountExists("an account with this address was just created; try again"),
                    "failure",
                    None,
                    "email taken",
                )
    problem, outcome, subject_id, reason = refusal
    await _refuse(
        c,
        problem,
        action="auth.oauth",
        outcome=outcome,
        client=client,
        subject_id=subject_id,
        reason=reason,
        provider=ext.provider,
    )


async def _insert_identity(
    session: AsyncSession, user_id: uuid.UUID, ext: ExternalIdentity
) -> bool:
    """Link; False when the account has another identity of this provider already."""
    inserted = (
        await session.execute(
            pg_insert(IDENTITIES)
            .values(
                provider=ext.provider, subject=ext.subject, user_id=user_id, email=ext.email or ""
            )
            .on_conflict_do_nothing()
            .returning(IDENTITIES.c.subject)
        )
    ).first()
    return inserted is not None


async def _create(session: AsyncSession, ext: ExternalIdentity, *, client: ClientInfo) -> Any:
    user_id = uuid.uuid4()
    created = (
        await session.execute(
            pg_insert(USERS)
            .values(
                id=user_id,
                email=ext.email,
                email_verified_at=func.now(),
                password_hash=None,
                display_name=ext.name[:100],
            )
            .on_conflict_do_nothing()
            .returning(USERS.c.id)
        )
    ).first()
    if created is None:
        return None
    await account_created(session, user_id, locale="en", client=client, provider=ext.provider)
    await _insert_identity(session, user_id, ext)
    await emit(session, "user.email_verified", {"user_id": str(user_id), "method": ext.provider})
    return await user_by_id(session, user_id)


async def link(c: UserContext, done: Completed, *, client: ClientInfo) -> Identity:
    """Finish a link flow started by a signed-in user (purpose "link")."""
    ext = done.identity
    user_id = done.user_id
    if user_id is None:  # begin() never stores a link flow without its user
        raise OAuthFailed("this link flow has no account", reason="state_unknown")
    refusal: Problem | None = None
    async with c.db.session() as session:
        user = (
            await session.execute(select(USERS).where(USERS.c.id == user_id).with_for_update())
        ).first()
        linked = await _identity(session, ext.provider, ext.subject)
        if user is None or user.status != "active":
            refusal = AccountDisabled("this account is disabled or gone")
        elif linked is not None and linked.user_id != user_id:
            refusal = IdentityInUse(
                f"this {ext.provider} account is linked to another Kommerce account; unlink it "
                "there first"
            )
        elif linked is None and not await _insert_identity(session, user_id, ext):
            refusal = IdentityInUse(
                f"your account already has a {ext.provider} account linked; unlink it first"
            )
        else:
            await audit.record(
                session,
                action="identity.link",
                outcome="success",
                client=client,
                actor_id=user_id,
                subject_id=user_id,
                provider=ext.provider,
                how="user request",
            )
            found = await _identity(session, ext.provider, ext.subject)
            return Identity(found.provider, found.subject, found.email, found.linked_at)
    await _refuse(
        c,
        refusal,
        action="identity.link",
        outcome="failure",
        client=client,
        actor_id=user_id,
        subject_id=user_id,
        provider=ext.provider,
        reason=refusal.slug,
    )


async def identities(session: AsyncSession, user_id: uuid.UUID) -> list[Identity]:
    rows = await session.execute(
        select(IDENTITIES).where(IDENTITIES.c.user_id == user_id).order_by(IDENTITIES.c.provider)
    )
    return [Identity(r.provider, r.subject, r.email, r.linked_at) for r in rows]


async def unlink(c: UserContext, user_id: uuid.UUID, provider: str, *, client: ClientInfo) -> None:
    refusal: Problem | None = None
    async with c.db.session() as session:
        # the row lock serialises concurrent unlinks: two of them cannot both pass the check
        user = (
            await session.execute(select(USERS).where(USERS.c.id == user_id).with_for_update())
        ).first()
        linked = [i.provider for i in await identities(session, user_id)]
        if user is None or provider not in linked:
            raise NotFound(f"no {provider} account is linked")
        if user.password_hash is None and len(linked) == 1:
            refusal = LastSignInMethod(
                f"{provider} is the only way to sign in to this account; set a password "
                "(reset it by email) or link another provider first"
            )
        else:
            await session.execute(
                delete(IDENTITIES).where(
                    IDENTITIES.c.user_id == user_id, IDENTITIES.c.provider == provider
                )
            )
            await audit.record(
                session,
                action="identity.unlink",
                outcome="success",
                client=client,
                actor_id=user_id,
                subject_id=user_id,
                provider=provider,
            )
            return
    await _refuse(
        c,
        refusal,
        action="identity.unlink",
        outcome="denied",
        client=client,
        actor_id=user_id,
        subject_id=user_id,
        provider=provider,
        reason="last sign-in method",
    )
