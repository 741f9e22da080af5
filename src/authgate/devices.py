"""Device fingerprints: SHA-256 over the request attributes chosen by configuration.

The inputs are configurable because a client IP changes on mobile networks; a
fingerprint binds a session's refresh tokens to a device without storing the inputs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["DeviceInfo", "agent_fingerprint", "fingerprint"]


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    user_agent: str
    ip: str
    accept_language: str


def fingerprint(device: DeviceInfo, inputs: Sequence[str]) -> str:
    values = {
        "user-agent": device.user_agent,
        "ip": device.ip,
        "accept-language": device.accept_language,
    }
    material = "|".join(values[name] for name in inputs)
    return hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()


def agent_fingerprint(client_id: str) -> str:
    """The 'device' of an agent is its client identity: its grants refresh only with it."""
    return hashlib.sha256(f"agent|{client_id}".encode()).hexdigest()
