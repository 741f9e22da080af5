"""The revocation_events table read by cursor, and the server's follower of it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from authgate.storage.database import create_engine, create_schema
from authgate.storage.revocation_events import (
    Revocation,
    RevocationEvents,
    RevocationFollower,
    _safe_cursor,
)
from authgate.storage.revocations import RevocationList
from authgate.testing import FrozenClock


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'events.db'}")
    await create_schema(engine)
    yield engine
    await engine.dispose()


async def test_events_after_a_cursor_in_order_and_purged_once_expired(
    engine: AsyncEngine, clock: FrozenClock
) -> None:
    events = RevocationEvents(engine, clock=clock)
    now = int(clock())
    await events.append("session", ["s1", "s2"], revoked_at=now, until=now + 60)
    await events.append("agent", ["a1"], revoked_at=now, until=now + 600)
    read, cursor = await events.after(0)
    assert [(e.kind, e.subject) for e in read] == [
        ("session", "s1"),
        ("session", "s2"),
        ("agent", "a1"),
    ]
    assert cursor == read[-1].id == await events.latest()
    assert (await events.after(cursor))[0] == []
    clock.advance(61)
    assert [e.subject for e in (await events.after(0))[0]] == ["a1"]
    assert await events.purge(int(clock())) == 2


def test_the_cursor_stops_before_a_young_gap_but_not_an_old_one() -> None:
    """A transaction still in flight may fill a young gap (commits land out of order)."""
    now = 1_000
    assert _safe_cursor(0, [(1, now), (3, now)], now) == 1
    assert _safe_cursor(0, [(1, now - 60), (3, now - 60)], now) == 3


async def test_the_follower_applies_session_events_and_survives_errors(
    engine: AsyncEngine, clock: FrozenClock
) -> None:
    events = RevocationEvents(engine, clock=clock)
    local = RevocationList()
    keys_reloaded = []

    async def reload() -> None:
        keys_reloaded.append(True)

    follower = RevocationFollower(events, local, interval=0.01, on_key_revoked=reload, clock=clock)
    now = int(clock())
    await events.append("session", ["s1"], revoked_at=now, until=now + 60)
    await events.append("key", ["k1"], revoked_at=now, until=now + 60)
    assert await follower.poll() == 2
    assert "s1" in local
    assert keys_reloaded == [True]


class _Failing(RevocationEvents):
    """A feed whose reads fail three times (a database outage), then work."""

    def __init__(self, engine: AsyncEngine, clock: FrozenClock) -> None:
        super().__init__(engine, clock=clock)
        self.calls = 0
        self.recovered = asyncio.Event()

    async def after(self, cursor: int, *, limit: int = 500) -> tuple[list[Revocation], int]:
        self.calls += 1
        if self.calls <= 3:
            raise RuntimeError("database down")
        self.recovered.set()
        return await super().after(cursor, limit=limit)


class _Watched(RevocationList):
    def __init__(self) -> None:
        super().__init__()
        self.applied = asyncio.Event()

    def revoke(self, session_ids: Iterable[str], until: float) -> None:
        super().revoke(session_ids, until)
        self.applied.set()


async def test_the_follower_loop_survives_errors_and_recovers(
    engine: AsyncEngine, clock: FrozenClock
) -> None:
    events = _Failing(engine, clock)
    local = _Watched()
    now = int(clock())
    await events.append("session", ["s1"], revoked_at=now, until=now + 60)
    task = asyncio.create_task(RevocationFollower(events, local, interval=0.01, clock=clock).run())
    await asyncio.wait_for(local.applied.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert events.calls > 3
    assert "s1" in local
