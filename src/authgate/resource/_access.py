"""What a verified token grants, the scope check, and the DPoP replay cache of one process."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from authgate.errors import PermissionDeniedError
from authgate.tokens.claims import actor_claim, jkt_claim, optional_string_claim, string_claim

__all__ = ["Access", "InsufficientScopeError", "ReplayCache", "access_of", "check_scopes"]


@dataclass(frozen=True, slots=True)
class Access:
    """The caller, as a valid token for this resource says."""

    subject: str
    client_id: str | None
    scopes: frozenset[str]
    session_id: str | None
    expires_at: int
    issued_at: int
    actor: str | None = None  # RFC 8693 s4.1: the agent acting for ``subject``
    jkt: str | None = None  # RFC 9449 s6.1: the key the token is bound to
    token: str = field(default="", repr=False)  # never printed or logged
    claims: dict[str, Any] = field(default_factory=dict, repr=False)


class InsufficientScopeError(PermissionDeniedError):
    """RFC 6750 s3.1 ``insufficient_scope``: valid token, not enough scope (403)."""

    error = "Insufficient scope"

    def __init__(self, required: Sequence[str]) -> None:
        self.required = tuple(required)
        super().__init__(f"This action requires: {' '.join(self.required)}")


def _scopes(claims: dict[str, Any]) -> frozenset[str]:
    # RFC 9068 s2.2.3: ``scope`` is space-separated; authgate's own tokens also list them.
    scope = claims.get("scope")
    if isinstance(scope, str):
        return frozenset(s for s in scope.split(" ") if s)
    permissions = claims.get("permissions")
    if isinstance(permissions, list) and all(isinstance(p, str) for p in permissions):
        return frozenset(permissions)
    return frozenset()


def access_of(token: str, claims: dict[str, Any]) -> Access:
    return Access(
        subject=string_claim(claims, "sub"),
        client_id=optional_string_claim(claims, "client_id"),
        scopes=_scopes(claims),
        session_id=optional_string_claim(claims, "sessionId"),
        expires_at=int(claims["exp"]),
        issued_at=int(claims["iat"]),
        actor=actor_claim(claims),
        jkt=jkt_claim(claims),
        token=token,
        claims={name: value for name, value in claims.items() if not name.startswith("_")},
    )


def check_scopes(access: Access, required: Sequence[str]) -> None:
    if not access.scopes.issuperset(required):
        raise InsufficientScopeError(required)


class ReplayCache:
    """DPoP ``jti`` markers of this process (RFC 9449 s11.1), expiring, bounded by time."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._until: dict[str, float] = {}
        self._next_sweep = 1024

    async def claim(self, key: str, ttl: int) -> bool:
        now = self._clock()
        if self._until.get(key, 0.0) > now:
            return False
        self._until[key] = now + ttl
        if len(self._until) >= self._next_sweep:
            self._until = {k: until for k, until in self._until.items() if until > now}
            self._next_sweep = max(1024, 2 * len(self._until))
        return True
