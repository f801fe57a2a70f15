"""Access-token signing keys: Ed25519, rotated with overlap, published as a JWKS.

One key signs at a time. Rotation (`rotate()`, automatic every `key_rotation_days`, or
`POST /v1/admin/keys/rotate`) creates a new signing key and retires the old one, which stays in
the JWKS until `verify_until` = retirement + access-token lifetime + 60 s, so every token it
signed verifies until it expires. Private keys are stored encrypted (`crypto.Keyring`). Replicas
reload the key set every `reload_seconds`; rotation takes a transaction-level advisory lock so two
replicas cannot rotate at once.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from kommerce.auth.claims import ACCESS_TOKEN_TYPE, ALGORITHM
from kommerce.auth.keys import parse_jwks, public_jwk
from kommerce.data.db import Database
from services.user.crypto import Keyring
from services.user.tables import SIGNING_KEYS

_ROTATION_LOCK = 0x6B7573  # advisory lock id: "kus" (kommerce user signing)
OVERLAP_MARGIN_SECONDS = 60


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey
    created_at: datetime


class SigningKeys:
    def __init__(self, db: Database, keyring: Keyring, *, access_token_seconds: int) -> None:
        self.db = db
        self.keyring = keyring
        self.access_token_seconds = access_token_seconds
        self.active: SigningKey | None = None
        self.published: list[dict[str, Any]] = []
        self.verification: dict[str, jwt.PyJWK] = {}  # the published set, parsed once per load
        self.loaded_at = 0.0

    def _context(self, kid: str) -> str:
        return f"signing-key:{kid}"

    async def load(self) -> None:
        """Read the signing key and the published set (call at start and periodically)."""
        async with self.db.session() as session:
            rows = (
                await session.execute(
                    select(SIGNING_KEYS)
                    .where(
                        or_(
                            SIGNING_KEYS.c.verify_until.is_(None),
                            SIGNING_KEYS.c.verify_until > func.now(),
                        )
                    )
                    .order_by(SIGNING_KEYS.c.created_at.desc())
                )
            ).all()
        active = next((r for r in rows if r.retired_at is None), None)
        if active is not None:
            raw = self.keyring.open(active.private_key, context=self._context(active.kid))
            key = serialization.load_der_private_key(raw, password=None)
            assert isinstance(key, Ed25519PrivateKey)
            self.active = SigningKey(active.kid, key, active.created_at)
        else:
            self.active = None
        self.published = [dict(r.public_jwk) for r in rows]
        self.verification = parse_jwks({"keys": self.published})
        self.loaded_at = time.monotonic()

    async def ensure(self, *, rotate_after: timedelta) -> bool:
        """Create the first key, or rotate when the active one is older than `rotate_after`.

        Returns whether a key was created."""
        await self.load()
        if self.active is not None and datetime.now(UTC) - self.active.created_at < rotate_after:
            return False
        async with self.db.session() as session:
            await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _ROTATION_LOCK})
            current = (
                await session.execute(
                    select(SIGNING_KEYS.c.created_at).where(SIGNING_KEYS.c.retired_at.is_(None))
                )
            ).scalar()
            if current is not None and datetime.now(UTC) - current < rotate_after:
                created = False  # another replica did it while we waited
            else:
                await self._rotate(session)
                created = True
        await self.load()
        return created

    async def rotate(self) -> str:
        """Start signing with a new key now; the old one keeps verifying until its tokens end."""
        async with self.db.session() as session:
            await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _ROTATION_LOCK})
            kid = await self._rotate(session)
        await self.load()
        return kid

    async def _rotate(self, session: AsyncSession) -> str:
        now = datetime.now(UTC)
        keep = timedelta(seconds=self.access_token_seconds + OVERLAP_MARGIN_SECONDS)
        await session.execute(
            update(SIGNING_KEYS)
            .where(SIGNING_KEYS.c.retired_at.is_(None))
            .values(retired_at=now, verify_until=now + keep)
        )
        key = Ed25519PrivateKey.generate()
        kid = f"{now:%Y%m%d}-{uuid.uuid4().hex[:12]}"
        der = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        await session.execute(
            insert(SIGNING_KEYS).values(
                kid=kid,
                private_key=self.keyring.seal(der, context=self._context(kid)),
                public_jwk=public_jwk(kid, key),
            )
        )
        return kid

    def jwks(self) -> dict[str, Any]:
        return {"keys": list(self.published)}

    def sign(self, claims: dict[str, Any]) -> str:
        if self.active is None:
            raise RuntimeError("no signing key loaded; call ensure() at start-up")
        return jwt.encode(
            claims,
            self.active.private_key,
            algorithm=ALGORITHM,
            headers={"kid": self.active.kid, "typ": ACCESS_TOKEN_TYPE},
        )
