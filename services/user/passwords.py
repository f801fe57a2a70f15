"""Password hashing (argon2id) and the password policy (NIST SP 800-63B / ASVS V2.1).

Policy: at least `password_min_length` characters (counted as Unicode code points after NFKC
normalisation), at most `password_max_length`, not on the common-password list, not the
account's email or its local part. No composition rules (ASVS 2.1.9): length and a blocklist
beat "one digit, one symbol".

Hashing: argon2id with the configured cost. `verify` reports when a stored hash was made with
other parameters, and the login path then re-hashes the password it just checked.
"""

from __future__ import annotations

import asyncio
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from services.user.settings import Argon2Parameters

COMMON_PASSWORDS = Path(__file__).parent / "data" / "common-passwords.txt"


@cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS.read_text().splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def normalise(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


@dataclass(frozen=True)
class PasswordPolicy:
    min_length: int = 12
    max_length: int = 128

    def problems(self, password: str, *, email: str = "") -> list[str]:
        """What is wrong with `password` (empty: acceptable)."""
        value = normalise(password)
        found: list[str] = []
        if len(value) < self.min_length:
            found.append(f"use at least {self.min_length} characters")
        if len(value) > self.max_length:
            found.append(f"use at most {self.max_length} characters")
        lowered = value.lower()
        if lowered in common_passwords():
            found.append("this password is on the list of commonly used passwords")
        elif len(set(lowered)) <= 2:
            found.append("use more than two different characters")
        local = email.lower().partition("@")[0]
        if email and (lowered == email.lower() or (len(local) >= 4 and local in lowered)):
            found.append("do not use your email address in your password")
        return found


@dataclass(frozen=True)
class Verified:
    ok: bool
    needs_rehash: bool = False


class Hasher:
    def __init__(self, params: Argon2Parameters) -> None:
        self.params = params
        self._hasher = PasswordHasher(
            time_cost=params.time_cost,
            memory_cost=params.memory_cost_kib,
            parallelism=params.parallelism,
            type=Type.ID,
        )
        # Checked against when the account does not exist, so "no such email" and "wrong
        # password" take the same time.
        self._dummy = self._hasher.hash("kommerce-timing-equaliser")

    def hash_sync(self, password: str) -> str:
        return self._hasher.hash(normalise(password))

    def verify_sync(self, stored: str | None, password: str) -> Verified:
        try:
            self._hasher.verify(stored or self._dummy, normalise(password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return Verified(False)
        if stored is None:
            return Verified(False)
        return Verified(True, self._hasher.check_needs_rehash(stored))

    # argon2 holds the GIL-free C code for ~20-50 ms: run it off the event loop.
    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self.hash_sync, password)

    async def verify(self, stored: str | None, password: str) -> Verified:
        return await asyncio.to_thread(self.verify_sync, stored, password)
