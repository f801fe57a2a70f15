"""The audit log: who did what to which account, when, from where, and how it ended.

Entries are written in the same transaction as the change they describe (a rolled-back change
leaves no entry), except failures, which are written in their own transaction so a refused
login is recorded even though nothing else is. The table is append-only (a trigger refuses
UPDATE, DELETE and TRUNCATE). Admins query it with filters and keyset pagination.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.user.client import ClientInfo
from services.user.tables import AUDIT_LOG

OUTCOMES = ("success", "failure", "denied")


async def record(
    session: AsyncSession,
    *,
    action: str,
    outcome: str,
    client: ClientInfo | None,
    actor_id: uuid.UUID | None = None,
    subject_id: uuid.UUID | None = None,
    **details: Any,
) -> None:
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
    await session.execute(
        insert(AUDIT_LOG).values(
            action=action,
            outcome=outcome,
            actor_id=actor_id,
            subject_id=subject_id,
            ip=_text(client.ip) if client else "",
            user_agent=_text(client.user_agent) if client else "",
            details=_clean(details),
        )
    )


def _text(value: str) -> str:
    """PostgreSQL text and jsonb cannot hold NUL; what callers sent is kept, visibly."""
    return value.replace("\x00", "\ufffd")


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, dict):
        return {_text(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


@dataclass(frozen=True)
class AuditQuery:
    actor_id: uuid.UUID | None = None
    subject_id: uuid.UUID | None = None
    action: str | None = None
    outcome: str | None = None
    ip: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    cursor: str | None = None  # opaque: the last (at, id) of the previous page


def encode_cursor(at: datetime, entry_id: int) -> str:
    raw = json.dumps([at.isoformat(), entry_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, entry_id = json.loads(raw)
        moment, number = datetime.fromisoformat(at), int(entry_id)
        moment.astimezone(UTC)  # raises unless the database can compare with it
        if not -(2**63) <= number < 2**63:  # the id column is a bigint
            raise ValueError("id out of range")
        return moment, number
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError("the cursor is not one this API returned") from exc


async def search(session: AsyncSession, query: AuditQuery) -> tuple[Sequence[Any], str | None]:
    """Entries newest first, and the cursor of the next page (None on the last page)."""
    conditions = []
    if query.actor_id is not None:
        conditions.append(AUDIT_LOG.c.actor_id == query.actor_id)
    if query.subject_id is not None:
        conditions.append(AUDIT_LOG.c.subject_id == query.subject_id)
    if query.action is not None:
        conditions.append(AUDIT_LOG.c.action == query.action)
    if query.outcome is not None:
        conditions.append(AUDIT_LOG.c.outcome == query.outcome)
    if query.ip is not None:
        conditions.append(AUDIT_LOG.c.ip == query.ip)
    if query.since is not None:
        conditions.append(AUDIT_LOG.c.at >= query.since)
    if query.until is not None:
        conditions.append(AUDIT_LOG.c.at < query.until)
    if query.cursor is not None:
        at, entry_id = decode_cursor(query.cursor)
        conditions.append(
            or_(AUDIT_LOG.c.at < at, and_(AUDIT_LOG.c.at == at, AUDIT_LOG.c.id < entry_id))
        )
    rows = (
        await session.execute(
            select(AUDIT_LOG)
            .where(*conditions)
            .order_by(AUDIT_LOG.c.at.desc(), AUDIT_LOG.c.id.desc())
            .limit(query.limit + 1)
        )
    ).all()
    page = rows[: query.limit]
    more = len(rows) > query.limit
    return page, encode_cursor(page[-1].at, page[-1].id) if more and page else None
