"""The signed-in user's own account: /v1/me/* (profile, addresses, sessions, security)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from kommerce.auth.claims import Principal
from kommerce.http.errors import NotFound
from kommerce.http.responses import problems
from services.user import accounts, audit, factors, profiles
from services.user.api.auth import Current
from services.user.api.models import (
    Accepted,
    Address,
    AddressIn,
    CodeRequest,
    EmailChange,
    PasswordChange,
    Profile,
    ProfileUpdate,
    RecoveryCodes,
    Revoked,
    SessionOut,
    TotpEnrolment,
)
from services.user.context import UserContext, ctx

router = APIRouter(prefix="/v1/me", tags=["me"], responses=problems(400, 401, 404, 409, 422, 429))
Ctx = Annotated[UserContext, Depends(ctx)]


async def recent(request: Request, c: Ctx) -> Principal:
    """Sensitive actions: a step-up within `step_up_seconds`, with a code if MFA is on."""

    async def mfa_on(principal: Principal) -> bool:
        return await factors.enrolled(c, principal)

    check = c.auth.require_recent(c.settings.step_up_seconds, mfa_if_enrolled=mfa_on)
    return await check(request)


Recent = Annotated[Principal, Depends(recent)]


def _uid(principal: Principal) -> uuid.UUID:
    return uuid.UUID(principal.user_id)


@router.get("", response_model=Profile)
async def get_profile(principal: Current, c: Ctx) -> Profile:
    async with c.db.session() as session:
        return Profile(**await profiles.profile(session, _uid(principal)))


@router.patch("", response_model=Profile)
async def update_profile(
    body: ProfileUpdate, request: Request, principal: Current, c: Ctx
) -> Profile:
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    async with c.db.session() as session:
        changed = await profiles.update_profile(session, _uid(principal), changes)
        if changed:
            await audit.record(
                session,
                action="profile.update",
                outcome="success",
                client=c.client(request),
                actor_id=_uid(principal),
                subject_id=_uid(principal),
                fields=changed,
            )
        return Profile(**await profiles.profile(session, _uid(principal)))


@router.post("/password", response_model=Revoked)
async def change_password(
    body: PasswordChange, request: Request, principal: Recent, c: Ctx
) -> Revoked:
    """Needs a recent step-up (POST /v1/auth/step-up). Signs out every other session."""
    ended = await accounts.change_password(
        c, principal, new_password=body.new_password, client=c.client(request)
    )
    return Revoked(revoked=ended)


@router.post("/email", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
async def change_email(body: EmailChange, request: Request, principal: Recent, c: Ctx) -> Accepted:
    """Needs a recent step-up. The new address must be confirmed by its link."""
    await accounts.change_email(c, principal, new_email=body.new_email, client=c.client(request))
    return Accepted(detail="confirm the new address with the link we sent to it")


# ---- addresses ----


@router.get("/addresses", response_model=list[Address])
async def list_addresses(principal: Current, c: Ctx) -> list[Address]:
    async with c.db.session() as session:
        return [Address(**a) for a in await profiles.addresses(session, _uid(principal))]


@router.post("/addresses", status_code=status.HTTP_201_CREATED, response_model=Address)
async def add_address(body: AddressIn, principal: Current, c: Ctx) -> Address:
    async with c.db.session() as session:
        return Address(**await profiles.add_address(session, _uid(principal), body.model_dump()))


@router.put("/addresses/{address_id}", response_model=Address)
async def replace_address(
    address_id: uuid.UUID, body: AddressIn, principal: Current, c: Ctx
) -> Address:
    async with c.db.session() as session:
        row = await profiles.replace_address(
            session, _uid(principal), address_id, body.model_dump()
        )
        return Address(**row)


@router.delete("/addresses/{address_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_address(address_id: uuid.UUID, principal: Current, c: Ctx) -> None:
    async with c.db.session() as session:
        await profiles.delete_address(session, _uid(principal), address_id)


# ---- sessions ----


@router.get("/sessions", response_model=list[SessionOut])
async def list_sessions(principal: Current, c: Ctx) -> list[SessionOut]:
    return [
        SessionOut(
            session_id=s.session_id,
            device=s.device,
            ip=s.ip,
            user_agent=s.user_agent,
            created_at=datetime.fromtimestamp(s.created_at, UTC),
            last_seen_at=datetime.fromtimestamp(s.last_seen_at, UTC),
            current=s.session_id == principal.session_id,
        )
        for s in await c.sessions.active(principal.user_id)
    ]


@router.delete("/sessions/{session_id}", response_model=Revoked)
async def revoke_session(
    session_id: uuid.UUID, request: Request, principal: Current, c: Ctx
) -> Revoked:
    sid = str(session_id)
    owner = await c.sessions.owner(sid)
    async with c.db.session() as session:
        ended = await c.tokens.revoke_sessions(
            session, _uid(principal), [sid], reason="revoked by the user"
        )
        if not ended and owner != principal.user_id:
            raise NotFound("no such session")
        await audit.record(
            session,
            action="session.revoke",
            outcome="success",
            client=c.client(request),
            actor_id=_uid(principal),
            subject_id=_uid(principal),
            session_id=sid,
        )
    return Revoked(revoked=ended or [sid])


@router.delete("/sessions", response_model=Revoked)
async def logout_everywhere(request: Request, principal: Current, c: Ctx) -> Revoked:
    """Sign out every session, this one included."""
    async with c.db.session() as session:
        ended = await c.tokens.revoke_all(session, _uid(principal), reason="signed out everywhere")
        await audit.record(
            session,
            action="session.revoke_all",
            outcome="success",
            client=c.client(request),
            actor_id=_uid(principal),
            subject_id=_uid(principal),
            sessions=len(ended),
        )
    return Revoked(revoked=ended)


# ---- two-factor ----


@router.post("/mfa/totp", response_model=TotpEnrolment)
async def enroll_totp(request: Request, principal: Recent, c: Ctx) -> TotpEnrolment:
    """Start TOTP enrolment: show `provisioning_uri` as a QR code, then confirm a code."""
    found = await factors.enroll(c, principal, client=c.client(request))
    return TotpEnrolment(secret=found.secret, provisioning_uri=found.provisioning_uri)


@router.post("/mfa/totp/confirm", response_model=RecoveryCodes)
async def confirm_totp(
    body: CodeRequest, request: Request, principal: Current, c: Ctx
) -> RecoveryCodes:
    """Turn TOTP on with a first code; returns recovery codes (shown only this once)."""
    codes = await factors.confirm(c, principal, code=body.code, client=c.client(request))
    return RecoveryCodes(recovery_codes=codes)


@router.delete("/mfa/totp", status_code=status.HTTP_204_NO_CONTENT)
async def disable_totp(request: Request, principal: Recent, c: Ctx) -> None:
    """Needs a step-up that used the second factor."""
    await factors.disable(c, principal, client=c.client(request))


@router.post("/mfa/recovery-codes", response_model=RecoveryCodes)
async def new_recovery_codes(request: Request, principal: Recent, c: Ctx) -> RecoveryCodes:
    codes = await factors.regenerate_codes(c, principal, client=c.client(request))
    return RecoveryCodes(recovery_codes=codes)
