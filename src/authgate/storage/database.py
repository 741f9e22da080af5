"""Engine and session factory for the SQL store (SQLite embedded, PostgreSQL at scale).

Pools are bounded: a request that cannot get a connection within ``pool_timeout``
fails (and the store turns that into a 503) instead of queueing without end.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from authgate.statedir import prepare_sqlite_file
from authgate.storage.models import Base

__all__ = ["PING_AFTER_IDLE", "PoolLimits", "create_engine", "create_schema", "session_factory"]

#: A pooled PostgreSQL connection idle this long (seconds) is pinged before it is used.
PING_AFTER_IDLE = 5.0
_IDLE_SINCE = "authgate_idle_since"


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolLimits:
    size: int = 10
    max_overflow: int = 5
    timeout: float = 5.0
    connect_timeout: float = 5.0
    command_timeout: float = 15.0


def create_engine(url: str, limits: PoolLimits | None = None) -> AsyncEngine:
    limits = limits or PoolLimits()
    parsed = make_url(url)
    pool: dict[str, Any] = {
        "pool_size": limits.size,
        "max_overflow": limits.max_overflow,
        "pool_timeout": limits.timeout,
    }
    if parsed.get_backend_name() != "sqlite":
        driver = parsed.get_driver_name()
        engine = create_async_engine(
            url,
            # asyncpg: checked out as _check_out does it, without a round trip when busy.
            pool_pre_ping=driver != "asyncpg",
            connect_args=_connect_args(driver, limits),
            **pool,
        )
        if driver == "asyncpg":
            event.listen(engine.sync_engine.pool, "checkin", _checked_in)
            event.listen(engine.sync_engine.pool, "checkout", _check_out(engine))
        return engine
    if parsed.database and parsed.database != ":memory:":
        # Created 0600 before SQLite opens it: its -wal/-shm/-journal files copy the mode.
        prepare_sqlite_file(Path(parsed.database))
        engine = create_async_engine(url, connect_args={"timeout": 30}, **pool)
    else:
        engine = create_async_engine(url, connect_args={"timeout": 30})
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _checked_in(_dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        record.info[_IDLE_SINCE] = time.monotonic()


def _check_out(engine: AsyncEngine) -> Callable[[Any, Any, Any], None]:
    """A pooled asyncpg connection is checked as it leaves the pool, like ``pool_pre_ping``
    but without its three round trips (BEGIN, ``;``, ROLLBACK) on every checkout.

    A connection the server closed (a restart, a failover, ``pg_terminate_backend``) is
    already known closed to asyncpg: the event loop read the server's goodbye and the
    EOF while the connection sat in the pool, so no round trip is needed to see it. One
    that sat idle for ``PING_AFTER_IDLE`` seconds or more, which a network device may
    have dropped without a word, is pinged as before. Either way a dead connection is
    replaced by a fresh one before anything runs on it (the pool retries on
    ``DisconnectionError``).
    """
    dialect = engine.sync_engine.dialect

    def check(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if dbapi_connection.driver_connection.is_closed():
            raise DisconnectionError("the server closed the connection")
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:
            if dialect.is_disconnect(cast(Any, exc), dbapi_connection, None):
                raise DisconnectionError("the connection did not answer a ping") from exc
            raise

    return check


def _connect_args(driver: str, limits: PoolLimits) -> dict[str, Any]:
    if driver == "asyncpg":
        # `timeout` bounds connecting; `command_timeout` bounds a statement on a
        # server that stopped answering without closing the socket.
        return {"timeout": limits.connect_timeout, "command_timeout": limits.command_timeout}
    return {}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers proceed during a write; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def create_schema(engine: AsyncEngine) -> None:
    """Create every table directly, bypassing migrations (for throwaway databases)."""
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
