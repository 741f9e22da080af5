"""The authenticated caller, as handlers see it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Principal"]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling. ``id`` is the user (or ``agent:<client id>`` for an agent on its
    own); ``actor`` is set when an agent acts for that user under a delegation."""

    id: str
    email: str | None
    roles: tuple[str, ...]
    permissions: frozenset[str]
    session_id: str
    device_fingerprint: str
    token_id: str
    expires_at: int
    actor: str | None = None
    client_id: str | None = None
    jkt: str | None = None
    email_verified: bool | None = None
    amr: tuple[str, ...] = ()  # RFC 8176 methods of the sign-in
    acr: str | None = None  # aal1 | aal2
    auth_time: int | None = None  # when a factor was last shown (step-up, RFC 9470)

    def has(self, *permissions: str) -> bool:
        return self.permissions.issuperset(permissions)

    @property
    def is_delegated(self) -> bool:
        return self.actor is not None

    @property
    def is_agent(self) -> bool:
        return self.id.startswith("agent:") or self.actor is not None
