"""Alembic: one history for SQLite and PostgreSQL whose head matches the models."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from authgate.errors import ConfigurationError
from authgate.http.app import create_app
from authgate.storage.database import create_engine
from authgate.storage.migrate import current_revision, head_revision, require_head, upgrade
from authgate.storage.models import Base
from authgate.testing import lifespan, make_settings
from tests.scaleout.infra import postgres_database, server_env

AUTHGATE = str(Path(sys.executable).with_name("authgate"))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrated.db'}"
        return
    with postgres_database() as url:
        yield url


def _diff(connection: Connection) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))


async def test_migration_head_matches_the_models(database_url: str) -> None:
    """A model change without a revision fails here: `authgate db revision -m ...`."""
    engine = create_engine(database_url)
    try:
        assert await upgrade(engine) == head_revision()
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()


async def test_upgrade_twice_is_a_no_op(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        first = await upgrade(engine)
        assert await upgrade(engine) == first == head_revision()
    finally:
        await engine.dispose()


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_downgrade_to_base_removes_every_table(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'down.db'}")
    try:
        await upgrade(engine)
        from alembic import command

        from authgate.storage.migrate import alembic_config

        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "base"))
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == {"alembic_version"}
        assert await current_revision(engine) is None
    finally:
        await engine.dispose()


async def test_server_refuses_a_database_that_is_not_at_head(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, auto_migrate=False)
    app = create_app(settings)
    try:
        with pytest.raises(ConfigurationError, match="authgate db upgrade"):
            async with lifespan(app):
                pass
    finally:
        await app.state.authgate.close()


async def test_embedded_default_migrates_itself_at_startup(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with lifespan(create_app(settings)):
        pass
    engine = create_engine(settings.resolved_database_url)
    try:
        await require_head(engine)
    finally:
        await engine.dispose()


def test_db_upgrade_command_brings_a_database_to_head(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    env = server_env(tmp_path, database_url=url)
    upgraded = subprocess.run(
        [AUTHGATE, "db", "upgrade"], env=env, capture_output=True, text=True, timeout=60
    )
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.strip() == f"database at revision {head_revision()}"
    current = subprocess.run(
        [AUTHGATE, "db", "current"], env=env, capture_output=True, text=True, timeout=60
    )
    assert current.returncode == 0
    assert f"head is {head_revision()}" in current.stdout


def test_concurrent_upgrades_on_postgres_both_succeed(tmp_path: Path) -> None:
    """The advisory lock serialises instances that upgrade a fresh database at once."""
    with postgres_database() as url:
        env = server_env(tmp_path, database_url=url)
        runs = [
            subprocess.Popen(
                [AUTHGATE, "db", "upgrade"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        outcomes = [(run.wait(timeout=120), run.communicate()) for run in runs]
        for code, (out, err) in outcomes:
            assert code == 0, err
            assert out.strip() == f"database at revision {head_revision()}"
