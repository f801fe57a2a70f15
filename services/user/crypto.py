"""The service's own secrets: one configured secret key, split by HKDF into purpose keys.

- `seal`/`open`: AES-256-GCM for data at rest that must be read back (TOTP secrets, signing
  keys), with the row's identity as associated data so a ciphertext cannot be moved to another
  row.
- `sign`/`verify`: HMAC-SHA256 for one-time tokens.

In `local` and `test` environments without `KOMMERCE_USER_SECRET_KEY`, a random key is generated
once in the state directory (mode 0600); elsewhere the setting is required (see settings).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kommerce.paths import state_dir
from services.user.settings import UserSettings

_NONCE = 12


def _derive(secret: bytes, purpose: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"kommerce-user", info=purpose.encode()
    ).derive(secret)


class Keyring:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("the secret key must be at least 32 bytes")
        self._aead = AESGCM(_derive(secret, "at-rest-encryption"))
        self._mac = _derive(secret, "one-time-tokens")

    def seal(self, plaintext: bytes, *, context: str) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, plaintext, context.encode())

    def open(self, sealed: bytes, *, context: str) -> bytes:
        return self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], context.encode())

    def sign(self, message: bytes) -> bytes:
        return hmac.new(self._mac, message, hashlib.sha256).digest()

    def verify(self, message: bytes, signature: bytes) -> bool:
        return hmac.compare_digest(self.sign(message), signature)


def digest(token: str) -> bytes:
    """SHA-256 of a high-entropy token (refresh tokens, recovery codes) for lookup."""
    return hashlib.sha256(token.encode()).digest()


def keyring_for(settings: UserSettings) -> Keyring:
    if settings.secret_key is not None:
        return Keyring(settings.secret_key.get_secret_value().encode())
    return Keyring(_local_secret(state_dir() / "user-service" / "secret.key"))


def _local_secret(path: Path) -> bytes:
    if path.exists():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    try:
        os.link(tmp, path)  # atomic, and refuses to replace: the first replica's key wins
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_bytes()
