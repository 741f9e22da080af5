"""Device fingerprints: HMAC-SHA256, under a server key, of the request attributes chosen
by configuration.

The inputs are configurable because a client IP changes on mobile networks; a
fingerprint binds a session's refresh tokens to a device without storing the inputs.
It travels inside tokens, so it is keyed: an unkeyed hash of user agent, IP and
language can be reversed by trying the few likely values of each (issue 19 item 9).
The key is derived from a server secret under its own label, so it is never the secret
itself and no other derived key (such as the DPoP nonce key) equals it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["FINGERPRINT_LABEL", "DeviceFingerprints", "DeviceInfo", "derive_fingerprint_key"]

#: Domain separation: the HMAC message that turns a server secret into the fingerprint key.
FINGERPRINT_LABEL = b"authgate device fingerprint v1"
_FIELDS = ("user-agent", "ip", "accept-language")


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    user_agent: str
    ip: str
    accept_language: str


def derive_fingerprint_key(secret: str) -> bytes:
    """The fingerprint key, derived from a server secret (the refresh-token secret)."""
    return hmac.new(secret.encode("utf-8"), FINGERPRINT_LABEL, hashlib.sha256).digest()


class DeviceFingerprints:
    """Keyed fingerprints of browsers (``of``) and of agents (``of_agent``)."""

    def __init__(self, *, key: bytes, inputs: Sequence[str] = _FIELDS) -> None:
        if len(key) < 32:
            raise ValueError("the fingerprint key must be at least 32 bytes")
        unknown = set(inputs) - set(_FIELDS)
        if unknown:
            raise ValueError(f"unknown device fingerprint inputs: {sorted(unknown)}")
        self._key = key
        self._inputs = tuple(inputs)

    @classmethod
    def from_secret(cls, secret: str, inputs: Sequence[str] = _FIELDS) -> DeviceFingerprints:
        return cls(key=derive_fingerprint_key(secret), inputs=inputs)

    def of(self, device: DeviceInfo) -> str:
        values = {
            "user-agent": device.user_agent,
            "ip": device.ip,
            "accept-language": device.accept_language,
        }
        material = "|".join(values[name] for name in self._inputs)
        return self._mac(b"device|" + material.encode("utf-8", "surrogatepass"))

    def of_agent(self, client_id: str) -> str:
        """The 'device' of an agent is its client identity: its grants refresh only with it."""
        return self._mac(b"agent|" + client_id.encode("utf-8", "surrogatepass"))

    def _mac(self, message: bytes) -> str:
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()
