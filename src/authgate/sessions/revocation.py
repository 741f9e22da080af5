"""The in-process view of revoked sessions, consulted on every verification.

An access token is refused once its session is revoked. Entries only need to live until
every access token issued before the revocation has expired (access TTL plus leeway),
so the set stays as small as the number of recent logouts.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["RevocationList"]


class RevocationList:
    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._until

    def __len__(self) -> int:
        return len(self._until)

    def revoke(self, session_ids: Iterable[str], until: float) -> None:
        for session_id in session_ids:
            self._until[session_id] = max(until, self._until.get(session_id, 0.0))

    def purge(self, now: float) -> int:
        expired = [sid for sid, until in self._until.items() if until <= now]
        for session_id in expired:
            del self._until[session_id]
        return len(expired)
