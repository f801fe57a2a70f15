"""Admin routes: users, role assignment, sessions, the audit log, key rotation (/v1/admin/*)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import ColumnElement, and_, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from kommerce.auth.claims import Principal
from kommerce.auth.roles import Role
from kommerce.http.errors import Conflict, NotFound, Problem
from kommerce.http.responses import problems
from services.user import audit
from services.user.api.models import (
    AuditEntry,
    AuditPage,
    KeyRotated,
    Revoked,
    RolesOut,
    UserPage,
    UserSummary,
)
from services.user.context import UserContext, ctx
from services.user.events import emit
from services.user.tables import USER_ROLES, USERS
from services.user.tokens import roles_of

router = APIRouter(
    prefix="/v1/admin", tags=["admin"], responses=problems(400, 401, 403, 404, 409, 422)
)
Ctx = Annotated[UserContext, Depends(ctx)]


class BadQuery(Problem):
    status, slug, title = 400, "bad-query", "The query is not valid"


NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL


def _in_range(moment: datetime | None) -> bool:
    """Whether the database can compare with it (its UTC form is a valid datetime)."""
    try:
        return moment is None or moment.astimezone(UTC) is not None
    except OverflowError:
        return False


def permission(name: str):  # type: ignore[no-untyped-def]
    async def check(request: Request, c: Ctx) -> Principal:
        return await c.auth.require(name)(request)

    return check


ReadUsers = Annotated[Principal, Depends(permission("users:read"))]
AssignRoles = Annotated[Principal, Depends(permission("roles:assign"))]
RevokeSessions = Annotated[Principal, Depends(permission("sessions:revoke"))]
ReadAudit = Annotated[Principal, Depends(permission("audit:read"))]
RotateKeys = Annotated[Principal, Depends(permission("keys:rotate"))]


@router.get("/users", response_model=UserPage)
async def list_users(
    principal: ReadUsers,
    c: Ctx,
    email: Annotated[
        str | None, Query(max_length=320, pattern=NO_NUL, description="prefix match")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    after: Annotated[uuid.UUID | None, Query(description="next_cursor of the last page")] = None,
) -> UserPage:
    query = select(USERS).order_by(USERS.c.id).limit(limit + 1)
    conditions: list[ColumnElement[bool]] = []
    if email:
        escaped = email.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(USERS.c.email.ilike(escaped + "%", escape="\\"))
    if after is not None:
        conditions.append(USERS.c.id > after)
    if conditions:
        query = query.where(and_(*conditions))
    async with c.db.session() as session:
        rows = (await session.execute(query)).all()
        page = rows[:limit]
        users = [
            UserSummary(
                id=r.id,
                email=r.email,
                email_verified=r.email_verified_at is not None,
                status=r.status,
                roles=await roles_of(session, r.id),
                created_at=r.created_at,
            )
            for r in page
        ]
    cursor = str(page[-1].id) if len(rows) > limit and page else None
    return UserPage(users=users, next_cursor=cursor)


async def _require_user(c: UserContext, user_id: uuid.UUID) -> None:
    async with c.db.session() as session:
        found = (await session.execute(select(USERS.c.id).where(USERS.c.id == user_id))).first()
    if found is None:
        raise NotFound("no such user")


@router.put("/users/{user_id}/roles/{role}", response_model=RolesOut)
async def grant_role(
    user_id: uuid.UUID, role: Role, request: Request, principal: AssignRoles, c: Ctx
) -> RolesOut:
    return await _change_role(c, request, principal, user_id, role, "granted")


@router.delete("/users/{user_id}/roles/{role}", response_model=RolesOut)
async def revoke_role(
    user_id: uuid.UUID, role: Role, request: Request, principal: AssignRoles, c: Ctx
) -> RolesOut:
    return await _change_role(c, request, principal, user_id, role, "revoked")


async def _change_role(
    c: UserContext,
    request: Request,
    principal: Principal,
    user_id: uuid.UUID,
    role: Role,
    change: Literal["granted", "revoked"],
) -> RolesOut:
    await _require_user(c, user_id)
    actor = uuid.UUID(principal.user_id)
    if change == "revoked" and role is Role.ADMIN and actor == user_id:
        raise Conflict("admins cannot revoke their own admin role; ask another admin")
    async with c.db.session() as session:
        if change == "granted":
            result = await session.execute(
                pg_insert(USER_ROLES)
                .values(user_id=user_id, role=role.value, granted_by=actor)
                .on_conflict_do_nothing()
                .returning(USER_ROLES.c.role)
            )
        else:
            result = await session.execute(
                delete(USER_ROLES)
                .where(and_(USER_ROLES.c.user_id == user_id, USER_ROLES.c.role == role.value))
                .returning(USER_ROLES.c.role)
            )
        changed = result.first() is not None
        roles = await roles_of(session, user_id)
        if changed:
            await emit(
                session,
                "user.role_changed",
                {
                    "user_id": str(user_id),
                    "role": role.value,
                    "change": change,
                    "changed_by": str(actor),
                    "roles": roles,
                },
            )
        await audit.record(
            session,
            action=f"admin.role_{'grant' if change == 'granted' else 'revoke'}",
            outcome="success",
            client=c.client(request),
            actor_id=actor,
            subject_id=user_id,
            role=role.value,
            changed=changed,
        )
    return RolesOut(user_id=user_id, roles=roles)


@router.delete("/users/{user_id}/sessions", response_model=Revoked)
async def revoke_user_sessions(
    user_id: uuid.UUID, request: Request, principal: RevokeSessions, c: Ctx
) -> Revoked:
    """Sign a user out everywhere (support: a compromised account)."""
    await _require_user(c, user_id)
    async with c.db.session() as session:
        ended = await c.tokens.revoke_all(session, user_id, reason="revoked by staff")
        await audit.record(
            session,
            action="admin.sessions_revoke",
            outcome="success",
            client=c.client(request),
            actor_id=uuid.UUID(principal.user_id),
            subject_id=user_id,
            sessions=len(ended),
        )
    return Revoked(revoked=ended)


@router.get("/audit", response_model=AuditPage)
async def audit_log(
    principal: ReadAudit,
    c: Ctx,
    actor_id: uuid.UUID | None = None,
    subject_id: uuid.UUID | None = None,
    action: Annotated[str | None, Query(max_length=100, pattern=NO_NUL)] = None,
    outcome: Literal["success", "failure", "denied"] | None = None,
    ip: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> AuditPage:
    """Newest first; pass `next_cursor` back as `cursor` for the next page."""
    if (since is not None and since.tzinfo is None) or (until is not None and until.tzinfo is None):
        raise BadQuery("give since/until with a time zone (e.g. 2026-11-27T10:00:00Z)")
    if not (_in_range(since) and _in_range(until)):
        raise BadQuery("since/until is out of range")
    query = audit.AuditQuery(
        actor_id=actor_id,
        subject_id=subject_id,
        action=action,
        outcome=outcome,
        ip=ip,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )
    async with c.db.session() as session:
        try:
            rows, next_cursor = await audit.search(session, query)
        except ValueError as exc:
            raise BadQuery(str(exc)) from exc
    return AuditPage(
        entries=[AuditEntry(**dict(r._mapping)) for r in rows], next_cursor=next_cursor
    )


@router.post("/keys/rotate", response_model=KeyRotated)
async def rotate_keys(request: Request, principal: RotateKeys, c: Ctx) -> KeyRotated:
    """Sign with a new key now; the old one verifies until its last tokens expire."""
    kid = await c.signing.rotate()
    async with c.db.session() as session:
        await audit.record(
            session,
            action="admin.keys_rotate",
            outcome="success",
            client=c.client(request),
            actor_id=uuid.UUID(principal.user_id),
            kid=kid,
        )
    return KeyRotated(kid=kid)
