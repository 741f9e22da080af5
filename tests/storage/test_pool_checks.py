"""Pooled PostgreSQL connections are checked as they leave the pool, without a round trip
while they are busy: one the server closed is replaced before anything runs on it, one
idle for ``PING_AFTER_IDLE`` seconds is pinged first (``storage/database.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from authgate.storage import database
from authgate.storage.database import PoolLimits, create_engine
from tests.scaleout.infra import PG_ADMIN_URL, postgres_database


@pytest.fixture
def database_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, PoolLimits(size=1, max_overflow=0))
    try:
        yield engine
    finally:
        await engine.dispose()


async def _backend_pid(engine: AsyncEngine) -> int:
    return (await _use(engine))[0]


async def _use(engine: AsyncEngine) -> tuple[int, Any]:
    """The server process of the connection checked out, and its asyncpg connection."""
    async with engine.connect() as conn:
        pid = int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())
        return pid, (await conn.get_raw_connection()).driver_connection


async def test_a_connection_the_server_closed_is_replaced_before_use(
    engine: AsyncEngine,
) -> None:
    """PostgreSQL ends the pooled connection (as on a restart or a failover): the next
    checkout gets a new one, and the statement on it succeeds. Without a check it would
    fail with "connection is closed"."""
    pid, pooled = await _use(engine)
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    for _ in range(200):  # the event loop reads the server's goodbye and the EOF
        if pooled.is_closed():
            break
        await asyncio.sleep(0.02)
    assert pooled.is_closed()

    assert await _backend_pid(engine) != pid


async def _queries_on_checkout(engine: AsyncEngine) -> list[str]:
    """The queries asyncpg logs (not SQLAlchemy's prepared ones) over one checkout."""
    queries: list[str] = []

    def log(record: Any) -> None:
        queries.append(record.query)

    def checkout(dbapi_connection: Any, *_: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(log)

    event.listen(engine.sync_engine.pool, "checkout", checkout, insert=True)
    try:
        _, driver = await _use(engine)
    finally:
        event.remove(engine.sync_engine.pool, "checkout", checkout)
    driver.remove_query_logger(log)
    return queries


async def test_a_busy_connection_is_not_pinged(engine: AsyncEngine) -> None:
    """No BEGIN, ``;``, ROLLBACK before each use, as ``pool_pre_ping`` would send."""
    await _backend_pid(engine)
    assert ";" not in await _queries_on_checkout(engine)


async def test_a_connection_idle_long_enough_is_pinged_first(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _backend_pid(engine)
    monkeypatch.setattr(database, "PING_AFTER_IDLE", 0.0)
    assert ";" in await _queries_on_checkout(engine)
