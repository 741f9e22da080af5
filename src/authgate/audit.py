"""The audit trail: security events persisted with who, which session, where from.

``record`` writes an event on its own. A store method that must write the event in the
same transaction as its change (the refresh rotation) takes ``entry(...)``; the caller
then calls ``announce`` once that transaction has committed. Either way the observer
(metrics) and the log see each event once, after it is stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from authgate.clock import Clock, system_clock
from authgate.devices import DeviceInfo
from authgate.storage.models import AuditEntry
from authgate.storage.store import SqlStore

__all__ = ["AuditTrail"]

logger = logging.getLogger("authgate.audit")


class AuditTrail:
    def __init__(
        self,
        store: SqlStore,
        *,
        clock: Clock = system_clock,
        observer: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        # Sees every event as it is recorded (metrics count them).
        self._observer = observer

    def entry(
        self,
        event: str,
        *,
        user_id: str | None = None,
        session_id: str | None = None,
        device: DeviceInfo | None = None,
        **detail: Any,
    ) -> AuditEntry:
        """Build one event without storing it. ``detail`` never holds a secret or token."""
        return AuditEntry(
            at=int(self._clock()),
            event=event,
            user_id=user_id,
            session_id=session_id,
            ip=device.ip if device else None,
            user_agent=device.user_agent[:512] if device else None,
            detail=detail or None,
        )

    async def record(
        self,
        event: str,
        *,
        user_id: str | None = None,
        session_id: str | None = None,
        device: DeviceInfo | None = None,
        **detail: Any,
    ) -> None:
        """Persist one event. ``detail`` must never hold a secret, token or password."""
        entry = self.entry(event, user_id=user_id, session_id=session_id, device=device, **detail)
        await self._store.add_audit(entry)
        self.announce(entry)

    def announce(self, entry: AuditEntry) -> None:
        """Tell the observer and the log about an event the store has committed."""
        if self._observer is not None:
            self._observer(entry.event, entry.detail or {})
        logger.info(
            "audit %s",
            entry.event,
            extra={"event": entry.event, "user_id": entry.user_id, "session_id": entry.session_id},
        )
