"""The audit trail: security events persisted with who, which session, where from."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from authgate.clock import Clock, system_clock
from authgate.devices import DeviceInfo
from authgate.storage.models import AuditEvent
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
        row = AuditEvent(
            at=int(self._clock()),
            event=event,
            user_id=user_id,
            session_id=session_id,
            ip=device.ip if device else None,
            user_agent=device.user_agent[:512] if device else None,
            detail=detail or None,
        )
        await self._store.add_audit(row)
        if self._observer is not None:
            self._observer(event, detail)
        logger.info(
            "audit %s", event, extra={"event": event, "user_id": user_id, "session_id": session_id}
        )
