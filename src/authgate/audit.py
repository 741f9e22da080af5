"""The audit trail: security events persisted with who, which session, where from."""

from __future__ import annotations

import logging
from typing import Any

from authgate.clock import Clock, system_clock
from authgate.devices import DeviceInfo
from authgate.storage.models import AuditEvent
from authgate.storage.store import SqlStore

__all__ = ["AuditTrail"]

logger = logging.getLogger("authgate.audit")


class AuditTrail:
    def __init__(self, store: SqlStore, *, clock: Clock = system_clock) -> None:
        self._store = store
        self._clock = clock

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
        logger.info(
            "audit %s", event, extra={"event": event, "user_id": user_id, "session_id": session_id}
        )
