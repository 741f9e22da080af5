"""PostgreSQL: a rotation of a session this process knows is one statement, one round trip.

The replacement refresh token depends only on session columns that never change (its
absolute expiry caps ``exp``), so an instance that created or already rotated a session
signs the replacement first and sends the grant read with the writes. The database
writes only for a live grant (not revoked, not expired, its user active and the token's
``sub``); every refusal here must leave the rows exactly as they were.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from authgate.config import Settings
from authgate.devices import DeviceInfo
from authgate.errors import RefreshTokenError, RefreshTokenReuseError
from authgate.http.app import create_app
from authgate.runtime import Runtime
from authgate.sessions.service import TokenPair
from authgate.testing import FrozenClock, lifespan, make_settings
from tests.conftest import PASSWORD
from tests.helpers import runtime_of
from tests.scaleout.infra import postgres_database

DEVICE = DeviceInfo(user_agent="one-round-trip/1.0", ip="127.0.0.1", accept_language="en")


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    with postgres_database() as url:
        yield make_settings(tmp_path, database_url=url, auto_migrate=True)


@asynccontextmanager
async def instance(settings: Settings, clock: FrozenClock) -> AsyncIterator[FastAPI]:
    app = create_app(settings, clock=clock)
    async with lifespan(app):
        yield app


@pytest.fixture
async def app(settings: Settings, clock: FrozenClock) -> AsyncIterator[FastAPI]:
    async with instance(settings, clock) as first:
        yield first


@asynccontextmanager
async def statements(runtime: Runtime) -> AsyncIterator[list[str]]:
    """The SQL the pool's connections run inside the block, as asyncpg logs it."""
    pool = runtime.store.engine.sync_engine.pool
    seen: list[str] = []

    def log(record: Any) -> None:
        seen.append(" ".join(record.query.split()))

    def checkout(dbapi_connection: Any, *_: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(log)

    def checkin(dbapi_connection: Any, *_: Any) -> None:
        dbapi_connection.driver_connection.remove_query_logger(log)

    event.listen(pool, "checkout", checkout)
    event.listen(pool, "checkin", checkin)
    try:
        yield seen
    finally:
        event.remove(pool, "checkout", checkout)
        event.remove(pool, "checkin", checkin)


async def rotate_logged(runtime: Runtime, token: str) -> tuple[TokenPair, list[str]]:
    async with statements(runtime) as seen:
        pair = await runtime.auth.refresh(token, DEVICE)
        await asyncio.sleep(0)  # asyncpg hands query records to loggers with call_soon
    return pair, seen


async def snapshot(engine: AsyncEngine) -> tuple[list[Any], list[Any], list[Any]]:
    """Every row a rotation could write: tokens, sessions' last use, audit events."""
    async with engine.connect() as conn:
        tokens = (await conn.execute(text("SELECT jti, status FROM refresh_tokens"))).all()
        used = (await conn.execute(text("SELECT id, last_used_at FROM sessions"))).all()
        audit = (await conn.execute(text("SELECT event FROM audit_events"))).all()
    return sorted(tokens), sorted(used), sorted(audit)


async def signed_in(runtime: Runtime) -> TokenPair:
    user = await runtime.users.register("ada@example.com", PASSWORD)
    return await runtime.auth.start_session(user, DEVICE)


async def sql(engine: AsyncEngine, statement: str, **params: Any) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(statement), params)


async def test_a_session_this_instance_started_rotates_in_one_statement(app: FastAPI) -> None:
    runtime = runtime_of(app)
    pair = await signed_in(runtime)
    new, seen = await rotate_logged(runtime, pair.refresh.token)
    assert new.session_id == pair.session_id
    assert len(seen) == 1, seen
    assert seen[0].startswith("WITH live AS (SELECT s.id")
    again, seen = await rotate_logged(runtime, new.refresh.token)
    assert len(seen) == 1
    assert again.session_id == pair.session_id


async def test_another_instance_rotates_in_two_statements_once_then_in_one(
    app: FastAPI, settings: Settings, clock: FrozenClock
) -> None:
    pair = await signed_in(runtime_of(app))
    async with instance(settings, clock) as other:
        runtime = runtime_of(other)
        first, seen = await rotate_logged(runtime, pair.refresh.token)
        assert [q.split(" ", 1)[0] for q in seen] == ["SELECT", "WITH"], seen
        second, seen = await rotate_logged(runtime, first.refresh.token)
        assert len(seen) == 1, seen
    # Both instances' tokens are the same kind: the first one rotates the second's.
    third, _ = await rotate_logged(runtime_of(app), second.refresh.token)
    assert third.session_id == pair.session_id


@pytest.mark.parametrize(
    "change",
    [
        # Revoked behind this instance's back: only the database knows.
        "UPDATE sessions SET revoked_at = 1 WHERE id = :id",
        "UPDATE users SET is_active = false",
        # The instance remembers the original expiry; the database's word decides.
        "UPDATE sessions SET expires_at = 1 WHERE id = :id",
        "DELETE FROM sessions WHERE id = :id",
    ],
    ids=["revoked", "user-deactivated", "expired", "deleted"],
)
async def test_a_grant_no_longer_live_is_refused_and_nothing_is_written(
    app: FastAPI, change: str
) -> None:
    runtime = runtime_of(app)
    pair = await signed_in(runtime)
    engine = runtime.store.engine
    await sql(engine, change, **({"id": pair.session_id} if ":id" in change else {}))
    before = await snapshot(engine)
    with pytest.raises(RefreshTokenError):
        await runtime.auth.refresh(pair.refresh.token, DEVICE)
    assert await snapshot(engine) == before


async def test_reuse_is_detected_on_the_one_statement_path(
    app: FastAPI, clock: FrozenClock
) -> None:
    runtime = runtime_of(app)
    pair = await signed_in(runtime)
    new, seen = await rotate_logged(runtime, pair.refresh.token)
    assert len(seen) == 1
    clock.advance(60)  # past the reuse grace
    with pytest.raises(RefreshTokenReuseError):
        await runtime.auth.refresh(pair.refresh.token, DEVICE)
    # The whole session is revoked: the replacement stops working too.
    with pytest.raises(RefreshTokenError):
        await runtime.auth.refresh(new.refresh.token, DEVICE)


async def test_the_replacement_is_capped_by_the_session_expiry_on_both_paths(
    app: FastAPI, settings: Settings, clock: FrozenClock
) -> None:
    runtime = runtime_of(app)
    pair = await signed_in(runtime)
    absolute = pair.refresh.issued_at + settings.session_absolute_ttl
    token = pair.refresh
    while token.expires_at < absolute:  # rotate across the session's whole life
        clock.advance(settings.refresh_token_ttl - 60)
        rotated, seen = await rotate_logged(runtime, token.token)
        assert len(seen) == 1
        token = rotated.refresh
    assert token.expires_at == absolute
    async with instance(settings, clock) as other:
        clock.advance(60)
        from_other, seen = await rotate_logged(runtime_of(other), token.token)
        assert len(seen) == 2
        assert from_other.refresh.expires_at == absolute
