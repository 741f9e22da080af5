"""The in-process view of revoked sessions, consulted on every verification.

An access token is refused once its session is revoked. Entries only need to live until
every access token issued before the revocation has expired (access TTL plus leeway),
so the set stays as small as the number of recent logouts.

With several instances a ``RevocationFeed`` (storage/redis.py) keeps the list current
and renews its freshness; a list that has not been confirmed current for longer than
its staleness bound is ``stale`` and access checks answer 503 rather than trust it.
Without a feed (one process) the list is the whole truth and never stale.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

__all__ = ["RevocationList"]


class RevocationList:
    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        # Monotonic deadline of the last confirmation; None: never stale (one process).
        self._fresh_until: float | None = None

    @property
    def stale(self) -> bool:
        return self._fresh_until is not None and time.monotonic() > self._fresh_until

    def confirm_current(self, for_seconds: float) -> None:
        """The feed has just seen every revocation: trust the list ``for_seconds`` more."""
        self._fresh_until = max(self._fresh_until or 0.0, time.monotonic() + for_seconds)

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
