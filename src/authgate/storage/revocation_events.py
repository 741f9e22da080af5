"""The revocation feed's durable half: the ``revocation_events`` table, read by cursor.

Every revocation a verifier must learn is appended as one row (a session, an agent, a
signing key), in the same transaction as the change it announces where there is one.
Readers ask for the rows after a cursor (the last ``id`` they applied):

- the server itself, through ``RevocationFollower``, so a revocation made by another
  process (``authgate agents disable`` from the CLI, another instance) reaches its
  in-process ``RevocationList`` within a poll interval, with or without Redis;
- resource servers in other processes, over ``GET /oauth2/revocations?after=CURSOR``.

Ids are assigned at insert, commits may land out of order on PostgreSQL: a reader must
not move its cursor past a gap that a transaction still in flight could fill, so
``after`` stops the cursor before a young gap (re-delivering is harmless: applying a
revocation twice changes nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from authgate.clock import Clock, system_clock
from authgate.storage.database import session_factory
from authgate.storage.models import RevocationEvent
from authgate.storage.revocations import RevocationList
from authgate.storage.store import guarded_session

__all__ = [
    "KINDS",
    "Revocation",
    "RevocationEvents",
    "RevocationFollower",
    "event_rows",
]

logger = logging.getLogger("authgate.revocations")

KINDS = frozenset({"session", "agent", "key"})
# A gap younger than this may still be filled by a transaction in flight.
_GAP_GRACE = 10
PAGE = 500


@dataclass(frozen=True, slots=True)
class Revocation:
    id: int
    kind: str
    subject: str
    revoked_at: int
    until: int

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "subject": self.subject,
            "revokedAt": self.revoked_at,
            "until": self.until,
        }


def event_rows(
    kind: str, subjects: Sequence[str], *, revoked_at: int, until: int
) -> list[dict[str, Any]]:
    """Values for ``insert(RevocationEvent)``, for a caller inserting in its own transaction."""
    if kind not in KINDS:
        raise ValueError(f"unknown revocation kind {kind!r}")
    return [
        {"kind": kind, "subject": subject, "revoked_at": revoked_at, "until": until}
        for subject in subjects
    ]


class RevocationEvents:
    def __init__(self, engine: AsyncEngine, *, clock: Clock = system_clock) -> None:
        self._sessions: async_sessionmaker[AsyncSession] = session_factory(engine)
        self._clock = clock

    async def append(
        self, kind: str, subjects: Sequence[str], *, revoked_at: int, until: int
    ) -> None:
        rows = event_rows(kind, subjects, revoked_at=revoked_at, until=until)
        if not rows:
            return
        async with guarded_session(self._sessions) as db:
            await db.execute(insert(RevocationEvent), rows)
            await db.commit()

    async def after(self, cursor: int, *, limit: int = PAGE) -> tuple[list[Revocation], int]:
        """Live events with ``id > cursor`` (oldest first), and the cursor to ask with next."""
        now = int(self._clock())
        async with guarded_session(self._sessions) as db:
            query = (
                select(RevocationEvent)
                .where(RevocationEvent.id > cursor)
                .order_by(RevocationEvent.id)
                .limit(limit)
            )
            rows = (await db.execute(query)).scalars().all()
        events = [
            Revocation(row.id, row.kind, row.subject, row.revoked_at, row.until)
            for row in rows
            if row.until > now
        ]
        return events, _safe_cursor(cursor, [(r.id, r.revoked_at) for r in rows], now)

    async def latest(self) -> int:
        async with guarded_session(self._sessions) as db:
            return int((await db.execute(select(func.max(RevocationEvent.id)))).scalar() or 0)

    async def purge(self, now: int) -> int:
        """Forget events whose tokens have all expired."""
        async with guarded_session(self._sessions) as db:
            result = await db.execute(delete(RevocationEvent).where(RevocationEvent.until <= now))
            await db.commit()
        return int(getattr(result, "rowcount", 0) or 0)


def _safe_cursor(cursor: int, rows: Sequence[tuple[int, int]], now: int) -> int:
    """The highest id up to which nothing can still appear (see the module docstring)."""
    for row_id, revoked_at in rows:
        if row_id != cursor + 1 and revoked_at > now - _GAP_GRACE:
            break
        cursor = row_id
    return cursor


class RevocationFollower:
    """Applies new revocation events to this process's ``RevocationList``.

    A plain coroutine loop (``run``) that never dies: every error is logged and the next
    poll tries again, so a supervisor may wrap it but need not restart it.
    """

    def __init__(
        self,
        events: RevocationEvents,
        local: RevocationList,
        *,
        interval: float = 0.25,
        purge_every: float = 60.0,
        on_key_revoked: Callable[[], Awaitable[None]] | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self.events = events
        self._local = local
        self._interval = interval
        self._purge_every = purge_every
        self._on_key_revoked = on_key_revoked
        self._clock = clock
        self.cursor = 0
        self._purged_at = 0.0
        self._tick = asyncio.Event()
        self._nudged = asyncio.Event()
        self._failures = 0

    async def run(self, beat: Callable[[], None] | None = None) -> None:
        """Follow for ever; ``beat`` (a supervisor's heartbeat) after each good poll."""
        while True:
            try:
                await self.poll()
            except Exception:  # keep following; the next poll retries
                self._failures += 1
                # Once with the traceback, then a line every ~40 polls: no log flood.
                if self._failures == 1:
                    logger.exception("could not read the revocation events; retrying")
                elif self._failures % 40 == 0:
                    logger.warning("revocation events unreadable (%d tries)", self._failures)
            else:
                if self._failures:
                    logger.info("revocation events readable again")
                self._failures = 0
                if beat is not None:
                    beat()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._nudged.wait(), self._interval)
            self._nudged.clear()

    def nudge(self) -> None:
        """Poll now: this process has just written a revocation (long polls hear it at once)."""
        self._nudged.set()

    async def poll(self) -> int:
        """Apply every event after the cursor; the number applied."""
        applied = 0
        while True:
            events, cursor = await self.events.after(self.cursor)
            applied += await self._apply(events)
            moved, self.cursor = cursor != self.cursor, cursor
            if len(events) < PAGE or not moved:
                break
        if applied:
            self._wake()
        await self._maybe_purge()
        return applied

    async def wait_for_news(self, seconds: float) -> None:
        """Return when the next events have been applied, or after ``seconds``."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._tick.wait(), seconds)

    async def _apply(self, events: Sequence[Revocation]) -> int:
        # Checked again now: the read may have waited while time (or a purge) moved on.
        now = self._clock()
        sessions = [(e.subject, e.until) for e in events if e.kind == "session" and e.until > now]
        for subject, until in sessions:
            self._local.revoke([subject], until)
        if self._on_key_revoked is not None and any(e.kind == "key" for e in events):
            await self._on_key_revoked()
        return len(events)

    def _wake(self) -> None:
        tick, self._tick = self._tick, asyncio.Event()
        tick.set()

    async def _maybe_purge(self) -> None:
        now = self._clock()
        if now - self._purged_at >= self._purge_every:
            self._purged_at = now
            await self.events.purge(int(now))
