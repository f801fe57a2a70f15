"""Two-factor authentication: TOTP (RFC 6238) with recovery codes, and step-up.

Enrolment stores an encrypted secret and returns an `otpauth://` provisioning URI (what the QR
code encodes); the factor is enabled only once a first code confirms the authenticator works,
and that confirmation returns ten single-use recovery codes (shown once, stored as digests).
A code is accepted for the current 30 s step and one step either side (clock drift), and only
for a step later than the last accepted one, so an observed code cannot be replayed.
"""

from __future__ import annotations

import secrets
import time
import uuid

import pyotp
from sqlalchemy import and_, delete, func, insert, or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.user.crypto import Keyring, digest
from services.user.tables import RECOVERY_CODES, USERS

ISSUER_NAME = "Kommerce"
STEP_SECONDS = 30
RECOVERY_CODE_COUNT = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i


def _context(user_id: uuid.UUID) -> str:
    return f"totp:{user_id}"


def new_secret() -> str:
    return pyotp.random_base32(length=32)  # 160 bits, as RFC 4226 recommends


def provisioning_uri(secret: str, *, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER_NAME)


def seal_secret(keyring: Keyring, user_id: uuid.UUID, secret: str) -> bytes:
    return keyring.seal(secret.encode(), context=_context(user_id))


def open_secret(keyring: Keyring, user_id: uuid.UUID, sealed: bytes) -> str:
    return keyring.open(sealed, context=_context(user_id)).decode()


def matching_step(secret: str, code: str, *, now: float | None = None) -> int | None:
    """The time step `code` belongs to (current ±1), or None."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    moment = time.time() if now is None else now
    current = int(moment // STEP_SECONDS)
    for step in (current, current - 1, current + 1):
        if secrets.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


async def accept_step(session: AsyncSession, user_id: uuid.UUID, step: int) -> bool:
    """Record `step` as used; False if it (or a later one) was already used (a replay)."""
    result = await session.execute(
        update(USERS)
        .where(
            and_(
                USERS.c.id == user_id,
                or_(USERS.c.totp_last_step.is_(None), USERS.c.totp_last_step < step),
            )
        )
        .values(totp_last_step=step)
        .returning(USERS.c.id)
    )
    return result.first() is not None


def new_recovery_codes() -> list[str]:
    def one() -> str:
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(12))
        return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"

    return [one() for _ in range(RECOVERY_CODE_COUNT)]


def _canonical(code: str) -> str:
    return code.strip().lower().replace(" ", "").replace("-", "")


async def store_recovery_codes(session: AsyncSession, user_id: uuid.UUID, codes: list[str]) -> None:
    await session.execute(delete(RECOVERY_CODES).where(RECOVERY_CODES.c.user_id == user_id))
    await session.execute(
        insert(RECOVERY_CODES).values(
            [{"user_id": user_id, "code_hash": digest(_canonical(c))} for c in codes]
        )
    )


async def use_recovery_code(session: AsyncSession, user_id: uuid.UUID, code: str) -> bool:
    result = await session.execute(
        update(RECOVERY_CODES)
        .where(
            and_(
                RECOVERY_CODES.c.user_id == user_id,
                RECOVERY_CODES.c.code_hash == digest(_canonical(code)),
                RECOVERY_CODES.c.used_at.is_(None),
            )
        )
        .values(used_at=func.now())
        .returning(RECOVERY_CODES.c.user_id)
    )
    return result.first() is not None


def looks_like_recovery_code(code: str) -> bool:
    return len(_canonical(code)) == 12 and not _canonical(code).isdigit()
