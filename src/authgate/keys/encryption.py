"""Envelope encryption of secrets at rest with a key-encryption key (KEK).

AES-256-GCM (NIST SP 800-38D) with a fresh 96-bit nonce per message and the record's
identity as associated data, so a ciphertext cannot be moved to another record. The
KEK comes from ``AUTHGATE_ENCRYPTION_KEY`` (32 random bytes, base64url); its id is
stored beside each ciphertext so a KEK rotation can re-encrypt without loss.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from authgate.errors import ConfigurationError

__all__ = ["DecryptionError", "KeyEncryptionKey", "generate_kek"]

_VERSION = b"\x01"
_NONCE_BYTES = 12


class DecryptionError(ConfigurationError):
    """The ciphertext was not made by this KEK for this record, or was altered."""

    message = "Stored secret could not be decrypted with the configured encryption key"


def generate_kek() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()


def _b64decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


@dataclass(frozen=True, slots=True)
class KeyEncryptionKey:
    key: bytes

    def __post_init__(self) -> None:
        if len(self.key) != 32:
            raise ConfigurationError("AUTHGATE_ENCRYPTION_KEY must be 32 bytes (base64url)")

    @classmethod
    def from_setting(cls, value: str) -> KeyEncryptionKey:
        try:
            raw = _b64decode(value.strip())
        except ValueError as exc:
            raise ConfigurationError("AUTHGATE_ENCRYPTION_KEY is not base64url") from exc
        return cls(raw)

    @property
    def kek_id(self) -> str:
        # Identifies the KEK without revealing it: a truncated hash with a purpose label.
        return hashlib.sha256(b"authgate-kek-id|" + self.key).hexdigest()[:16]

    def encrypt(self, plaintext: bytes, *, associated: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(self.key).encrypt(nonce, plaintext, associated.encode())
        return _VERSION + nonce + sealed

    def decrypt(self, blob: bytes, *, associated: str) -> bytes:
        if len(blob) < 1 + _NONCE_BYTES + 16 or blob[:1] != _VERSION:
            raise DecryptionError()
        nonce, sealed = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        try:
            return AESGCM(self.key).decrypt(nonce, sealed, associated.encode())
        except InvalidTag as exc:
            raise DecryptionError() from exc
