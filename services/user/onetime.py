"""Signed, expiring, single-use tokens for mail links and MFA challenges.

A token is `base64url(payload).base64url(HMAC-SHA256(payload))` with the purpose, user, a
random id (jti) and the expiry in the payload; the signature makes tampering evident without a
database read, and the `one_time_tokens` row makes it single-use: redeeming is one conditional
`UPDATE ... WHERE consumed_at IS NULL`, so two concurrent redemptions cannot both succeed.
Issuing a new token of a purpose retires the user's earlier ones (only the latest reset link
works).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import and_, insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.user.crypto import Keyring
from services.user.tables import ONE_TIME_TOKENS


class Purpose(StrEnum):
    VERIFY_EMAIL = "verify-email"
    RESET_PASSWORD = "reset-password"  # noqa: S105  # nosec B105: a label, not a password
    MFA_CHALLENGE = "mfa-challenge"


class TokenRejected(Exception):
    """Why a token was refused: `reason` is tampered, expired, used or wrong-purpose."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Redeemed:
    user_id: uuid.UUID
    jti: uuid.UUID
    data: dict[str, str]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class OneTimeTokens:
    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    async def issue(
        self,
        session: AsyncSession,
        *,
        user_id: uuid.UUID,
        purpose: Purpose,
        ttl_seconds: int,
        data: dict[str, str] | None = None,
    ) -> str:
        jti = uuid.uuid4()
        expires = int(time.time()) + ttl_seconds
        now = datetime.now(UTC)
        await session.execute(
            update(ONE_TIME_TOKENS)
            .where(
                and_(
                    ONE_TIME_TOKENS.c.user_id == user_id,
                    ONE_TIME_TOKENS.c.purpose == purpose.value,
                    ONE_TIME_TOKENS.c.consumed_at.is_(None),
                )
            )
            .values(consumed_at=now)
        )
        await session.execute(
            insert(ONE_TIME_TOKENS).values(
                jti=jti,
                user_id=user_id,
                purpose=purpose.value,
                expires_at=datetime.fromtimestamp(expires, UTC),
            )
        )
        payload: dict[str, object] = {
            "p": purpose.value,
            "u": str(user_id),
            "j": str(jti),
            "e": expires,
        }
        if data:
            payload["d"] = data
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        return f"{_b64(body)}.{_b64(self.keyring.sign(body))}"

    def inspect(self, token: str, purpose: Purpose) -> Redeemed:
        """Check signature, purpose and expiry without using the token up."""
        try:
            body_text, signature_text = token.split(".", 1)
            body, signature = _unb64(body_text), _unb64(signature_text)
        except (ValueError, binascii.Error) as exc:
            raise TokenRejected("tampered") from exc
        if not self.keyring.verify(body, signature):
            raise TokenRejected("tampered")
        try:
            payload = json.loads(body)
            user_id, jti = uuid.UUID(payload["u"]), uuid.UUID(payload["j"])
            expires, found = int(payload["e"]), str(payload["p"])
            data = {str(k): str(v) for k, v in dict(payload.get("d", {})).items()}
        except (ValueError, KeyError, TypeError) as exc:
            raise TokenRejected("tampered") from exc
        if found != purpose.value:
            raise TokenRejected("wrong-purpose")
        if expires <= time.time():
            raise TokenRejected("expired")
        return Redeemed(user_id, jti, data)

    async def redeem(self, session: AsyncSession, token: str, purpose: Purpose) -> Redeemed:
        """Check the token and consume it (in the caller's transaction)."""
        found = self.inspect(token, purpose)
        result = await session.execute(
            update(ONE_TIME_TOKENS)
            .where(
                and_(
                    ONE_TIME_TOKENS.c.jti == found.jti,
                    ONE_TIME_TOKENS.c.purpose == purpose.value,
                    ONE_TIME_TOKENS.c.consumed_at.is_(None),
                )
            )
            .values(consumed_at=datetime.now(UTC))
            .returning(ONE_TIME_TOKENS.c.jti)
        )
        if result.first() is None:
            raise TokenRejected("used")
        return found
