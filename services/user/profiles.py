"""Profiles (preferences) and address books."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.http.errors import Conflict, NotFound
from services.user.tables import ADDRESSES, USERS
from services.user.tokens import roles_of

MAX_ADDRESSES = 50


async def profile(session: AsyncSession, user_id: uuid.UUID) -> dict[str, Any]:
    user = (await session.execute(select(USERS).where(USERS.c.id == user_id))).first()
    if user is None:
        raise NotFound("no such user")
    return {
        "id": user.id,
        "email": user.email,
        "email_verified": user.email_verified_at is not None,
        "display_name": user.display_name,
        "locale": user.locale,
        "currency": user.currency,
        "notification_channels": list(user.notification_channels),
        "marketing_consent": user.marketing_consent,
        "marketing_consent_at": user.marketing_consent_at,
        "roles": await roles_of(session, user_id),
        "mfa_enabled": user.totp_enabled_at is not None,
        "has_password": user.password_hash is not None,
        "created_at": user.created_at,
    }


async def update_profile(
    session: AsyncSession, user_id: uuid.UUID, changes: dict[str, Any]
) -> list[str]:
    """Apply the given preference changes; returns the names changed."""
    values = dict(changes)
    if "notification_channels" in values:
        values["notification_channels"] = sorted(set(values["notification_channels"]))
    if "marketing_consent" in values:
        # consent is recorded with its time (GDPR art. 7(1): be able to show when it was given)
        values["marketing_consent_at"] = func.now() if values["marketing_consent"] else None
    if values:
        values["updated_at"] = func.now()
        await session.execute(update(USERS).where(USERS.c.id == user_id).values(**values))
    return sorted(changes)


async def addresses(session: AsyncSession, user_id: uuid.UUID) -> list[Any]:
    rows = await session.execute(
        select(ADDRESSES).where(ADDRESSES.c.user_id == user_id).order_by(ADDRESSES.c.created_at)
    )
    return list(rows.mappings())


async def _clear_defaults(session: AsyncSession, user_id: uuid.UUID, data: dict[str, Any]) -> None:
    """Only one default shipping and one default billing address per user."""
    for flag in ("default_shipping", "default_billing"):
        if data.get(flag):
            await session.execute(
                update(ADDRESSES).where(ADDRESSES.c.user_id == user_id).values({flag: False})
            )


async def add_address(session: AsyncSession, user_id: uuid.UUID, data: dict[str, Any]) -> Any:
    count = (
        await session.execute(
            select(func.count()).select_from(ADDRESSES).where(ADDRESSES.c.user_id == user_id)
        )
    ).scalar_one()
    if count >= MAX_ADDRESSES:
        raise Conflict(f"an address book holds at most {MAX_ADDRESSES} addresses")
    await _clear_defaults(session, user_id, data)
    row = await session.execute(
        insert(ADDRESSES).values(id=uuid.uuid4(), user_id=user_id, **data).returning(*ADDRESSES.c)
    )
    return row.mappings().one()


async def replace_address(
    session: AsyncSession, user_id: uuid.UUID, address_id: uuid.UUID, data: dict[str, Any]
) -> Any:
    await _clear_defaults(session, user_id, data)
    row = (
        (
            await session.execute(
                update(ADDRESSES)
                .where(and_(ADDRESSES.c.id == address_id, ADDRESSES.c.user_id == user_id))
                .values(**data, updated_at=func.now())
                .returning(*ADDRESSES.c)
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("no such address in your address book")
    return row


async def delete_address(session: AsyncSession, user_id: uuid.UUID, address_id: uuid.UUID) -> None:
    result = await session.execute(
        delete(ADDRESSES)
        .where(and_(ADDRESSES.c.id == address_id, ADDRESSES.c.user_id == user_id))
        .returning(ADDRESSES.c.id)
    )
    if result.first() is None:
        raise NotFound("no such address in your address book")
