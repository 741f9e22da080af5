"""Revoking sessions: this instance at once, then the database, then the other instances.

The order matters. The local revocation list comes first, before any round trip, so the
token is refused from the next request on this instance even when the database write
fails. Then the database, the record every instance and every restart reads; then the
feed that tells the other instances.

A revocation the database could not record (it is down, starting up or failing over)
is queued and retried by a supervised task until the database answers. Meanwhile it is
published anyway, so the other instances refuse the token too while Redis works, and the
caller gets ``RevocationNotRecordedError`` (503) saying plainly that it is not recorded
yet. The queue lives in this process: if the process stops first, the logout is lost
once its access tokens expire, which the 503 told the client.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from authgate.audit import AuditTrail
from authgate.clock import Clock, system_clock
from authgate.devices import DeviceInfo
from authgate.errors import RevocationNotRecordedError, StorageUnavailableError
from authgate.storage.protocols import RevocationFeed
from authgate.storage.revocations import RevocationList
from authgate.storage.store import SqlStore
from authgate.supervision import Heartbeat

__all__ = ["PendingRevocation", "Revoker"]

logger = logging.getLogger("authgate.sessions")


@dataclass(frozen=True, slots=True)
class PendingRevocation:
    session_ids: tuple[str, ...]
    reason: str
    user_id: str
    device: DeviceInfo | None
    all_of_user: bool = False  # logout-all: every session the database knows of


class Revoker:
    def __init__(
        self,
        *,
        store: SqlStore,
        revocations: RevocationList,
        feed: RevocationFeed,
        audit: AuditTrail,
        revocation_ttl: int,
        retry_interval: float = 1.0,
        pending_limit: int = 10_000,
        clock: Clock = system_clock,
    ) -> None:
        self._store = store
        self._revocations = revocations
        self._feed = feed
        self._audit = audit
        self._ttl = revocation_ttl
        self._retry_interval = retry_interval
        self._pending: deque[PendingRevocation] = deque(maxlen=pending_limit)
        self._clock = clock

    @property
    def pending(self) -> int:
        """Revocations applied here that the database has not recorded yet."""
        return len(self._pending)

    async def revoke(
        self,
        session_ids: Sequence[str],
        reason: str,
        user_id: str,
        device: DeviceInfo | None,
        *,
        all_of_user: bool = False,
    ) -> list[str]:
        """Revoke and return the sessions newly revoked in the database.

        Raises ``RevocationNotRecordedError`` when the database could not record it.
        """
        item = PendingRevocation(tuple(session_ids), reason, user_id, device, all_of_user)
        until = int(self._clock()) + self._ttl
        self._revocations.revoke(item.session_ids, until)
        try:
            return await self._record(item)
        except StorageUnavailableError as exc:
            self._queue(item)
            await self._feed.publish(item.session_ids, until)
            raise RevocationNotRecordedError() from exc

    async def complete_pending(self) -> int:
        """Record queued revocations, oldest first, until the database fails again."""
        done = 0
        while self._pending:
            item = self._pending.popleft()
            try:
                await self._record(item)
            except StorageUnavailableError:
                self._pending.appendleft(item)
                break
            done += 1
        if done:
            logger.info("recorded %d revocations queued during a database outage", done)
        return done

    async def run_pending(self, beat: Heartbeat) -> None:
        """The supervised runner that drains the queue while the database is back."""
        while True:
            beat()
            if self._pending:
                await self.complete_pending()
            await asyncio.sleep(self._retry_interval)

    def _queue(self, item: PendingRevocation) -> None:
        if len(self._pending) == self._pending.maxlen:
            logger.warning("pending revocation queue full; the oldest entry is dropped")
        self._pending.append(item)

    async def _record(self, item: PendingRevocation) -> list[str]:
        now = int(self._clock())
        session_ids = list(item.session_ids)
        if item.all_of_user:
            known = await self._store.user_session_ids(item.user_id)
            session_ids += [s for s in known if s not in session_ids]
        # Delegations derived from these sessions die with them (cascade).
        children = await self._store.child_session_ids(session_ids)
        session_ids += [c for c in children if c not in session_ids]
        self._revocations.revoke(session_ids, now + self._ttl)
        revoked = await self._store.revoke_sessions(
            session_ids, item.reason, now, until=now + self._ttl
        )
        # Then the other instances, only once the database holds it.
        await self._feed.publish(session_ids, now + self._ttl)
        await self._audit_revoked(item, revoked)
        return revoked

    async def _audit_revoked(self, item: PendingRevocation, revoked: list[str]) -> None:
        try:
            for session_id in revoked:
                await self._audit.record(
                    "session.revoked",
                    user_id=item.user_id,
                    session_id=session_id,
                    device=item.device,
                    reason=item.reason,
                )
        except StorageUnavailableError:
            # The revocation itself is committed; only its audit row is missing.
            logger.warning("audit of %d revoked sessions not recorded", len(revoked))
