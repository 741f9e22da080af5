"""Envelope encryption of vault secrets (docs/vault.md).

Each record has its own random 256-bit data key. Each secret field is sealed under it
with AES-256-GCM (NIST SP 800-38D, fresh 96-bit nonce) and ``<record id>|<field>`` as
associated data, so a ciphertext cannot be moved to another record or field. The data
key is wrapped by the key-encryption key (KEK, ``AUTHGATE_ENCRYPTION_KEY``) with
``<record id>|data_key`` as associated data, and the KEK's id is stored beside it.
Rotating the KEK re-wraps data keys only; the secrets' ciphertexts stay as they are.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from authgate.config import Settings
from authgate.errors import ConfigurationError
from authgate.keys.encryption import DecryptionError, KeyEncryptionKey

__all__ = ["KeyChain", "Sealed"]

_DATA_KEY_BYTES = 32


def _aad(record_id: str, name: str) -> str:
    return f"vault|{record_id}|{name}"


@dataclass(frozen=True, slots=True)
class Sealed:
    """What is stored: the wrapped data key, its KEK's id, and each field's ciphertext."""

    data_key: bytes = field(repr=False)
    kek_id: str
    fields: Mapping[str, bytes | None] = field(repr=False)


class KeyChain:
    """The current KEK (wraps and unwraps) and the previous one (unwraps only)."""

    def __init__(self, current: KeyEncryptionKey, previous: KeyEncryptionKey | None = None):
        self.current = current
        self._by_id = {current.kek_id: current}
        if previous is not None:
            self._by_id.setdefault(previous.kek_id, previous)

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyChain | None:
        """None when no KEK is configured: the vault then refuses to store anything."""
        current, previous = settings.encryption_key, settings.encryption_key_previous
        if current is None:
            if previous is not None:
                raise ConfigurationError(
                    "AUTHGATE_ENCRYPTION_KEY_PREVIOUS needs AUTHGATE_ENCRYPTION_KEY"
                )
            return None
        return cls(
            KeyEncryptionKey.from_setting(current.get_secret_value()),
            KeyEncryptionKey.from_setting(previous.get_secret_value()) if previous else None,
        )

    @property
    def current_id(self) -> str:
        return self.current.kek_id

    def seal(self, record_id: str, values: Mapping[str, str | None]) -> Sealed:
        """A fresh data key sealing each value (None stays None), wrapped by the KEK."""
        data_key = os.urandom(_DATA_KEY_BYTES)
        # KeyEncryptionKey is AES-256-GCM with associated data: here keyed by the data key.
        sealer = KeyEncryptionKey(data_key)
        fields = {
            name: None
            if value is None
            else sealer.encrypt(value.encode(), associated=_aad(record_id, name))
            for name, value in values.items()
        }
        return Sealed(self.wrap(data_key, record_id=record_id), self.current_id, fields)

    def open(self, record_id: str, *, data_key: bytes, kek_id: str, name: str, blob: bytes) -> str:
        key = KeyEncryptionKey(self.unwrap(data_key, record_id=record_id, kek_id=kek_id))
        return key.decrypt(blob, associated=_aad(record_id, name)).decode()

    def wrap(self, data_key: bytes, *, record_id: str) -> bytes:
        return self.current.encrypt(data_key, associated=_aad(record_id, "data_key"))

    def unwrap(self, wrapped: bytes, *, record_id: str, kek_id: str) -> bytes:
        kek = self._by_id.get(kek_id)
        if kek is None:
            raise DecryptionError(
                f"The vault record's key-encryption key {kek_id} is not configured "
                "(set AUTHGATE_ENCRYPTION_KEY_PREVIOUS to the key before the rotation)"
            )
        return kek.decrypt(wrapped, associated=_aad(record_id, "data_key"))

    def rewrap(self, wrapped: bytes, *, record_id: str, kek_id: str) -> bytes:
        """The same data key, wrapped under the current KEK (KEK rotation)."""
        return self.wrap(
            self.unwrap(wrapped, record_id=record_id, kek_id=kek_id), record_id=record_id
        )
