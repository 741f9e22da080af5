"""Engine and session factory for the SQL store (SQLite embedded, PostgreSQL at scale).

Pools are bounded: a request that cannot get a connection within ``pool_timeout``
fails (and the store turns that into a 503) instead of queueing without end.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from authgate.statedir import prepare_sqlite_file
from authgate.storage.models import Base

__all__ = ["PoolLimits", "create_engine", "create_schema", "session_factory"]


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
        return create_async_engine(
            url,
            pool_pre_ping=True,
            connect_args=_connect_args(parsed.get_driver_name(), limits),
            **pool,
        )
    if parsed.database and parsed.database != ":memory:":
        # Created 0600 before SQLite opens it: its -wal/-shm/-journal files copy the mode.
        prepare_sqlite_file(Path(parsed.database))
        engine = create_async_engine(url, connect_args={"timeout": 30}, **pool)
    else:
        engine = create_async_engine(url, connect_args={"timeout": 30})
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


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
