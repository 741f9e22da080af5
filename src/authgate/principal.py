"""The authenticated caller, as handlers see it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Principal"]


@dataclass(frozen=True, slots=True)
class Principal:
    id: str
    email: str
    roles: tuple[str, ...]
    permissions: frozenset[str]
    session_id: str
    device_fingerprint: str
    token_id: str
    expires_at: int

    def has(self, *permissions: str) -> bool:
        return self.permissions.issuperset(permissions)
