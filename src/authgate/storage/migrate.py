"""Schema migrations with Alembic, shipped inside the package.

``upgrade(engine)`` brings any database to the head revision; it is what
``authgate db upgrade`` runs, and what the server runs at startup on the embedded
SQLite default. On PostgreSQL an advisory lock serialises instances that upgrade at
the same time. Every change to ``storage/models.py`` needs a revision
(``authgate db revision -m "..."``); a test fails when the head and the models differ.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from authgate.errors import ConfigurationError, StorageUnavailableError
from authgate.storage.store import is_unavailable

__all__ = ["alembic_config", "current_revision", "head_revision", "require_head", "upgrade"]

_MIGRATIONS = Path(__file__).with_name("migrations")
# An arbitrary constant key for pg_advisory_xact_lock: "authgate" in ASCII.
_LOCK_KEY = 0x6175746867617465


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision() -> str | None:
    """The newest revision shipped in the package (read once: the scripts are files of
    the installed package; ``autogenerate_revision`` forgets it when it writes one)."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


@asynccontextmanager
async def _reachable() -> AsyncIterator[None]:
    try:
        yield
    except Exception as exc:
        if is_unavailable(exc):
            raise StorageUnavailableError("database") from exc
        raise


async def current_revision(engine: AsyncEngine) -> str | None:
    async with _reachable(), engine.connect() as conn:
        return await conn.run_sync(_current)


def _upgrade(connection: Connection, target: str) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    command.upgrade(alembic_config(connection), target)


async def upgrade(engine: AsyncEngine, target: str = "head") -> str | None:
    """Apply every pending migration in one transaction; return the new revision."""
    # At head already (every restart): one query instead of loading every script.
    if target == "head" and (current := await current_revision(engine)) == head_revision():
        return current
    async with _reachable(), engine.begin() as conn:
        await conn.run_sync(_upgrade, target)
    return await current_revision(engine)


async def require_head(engine: AsyncEngine) -> None:
    """Refuse to serve a database whose schema is not at the head revision."""
    current, head = await current_revision(engine), head_revision()
    if current != head:
        raise ConfigurationError(
            f"database schema is at revision {current or 'none'}, this authgate needs "
            f"{head}: run `authgate db upgrade`"
        )


def _revision(connection: Connection, message: str) -> Any:
    return command.revision(alembic_config(connection), message=message, autogenerate=True)


async def autogenerate_revision(engine: AsyncEngine, message: str) -> Any:
    """Write a new revision file from the difference between the models and ``engine``."""
    try:
        async with engine.begin() as conn:
            return await conn.run_sync(_revision, message)
    finally:
        head_revision.cache_clear()
