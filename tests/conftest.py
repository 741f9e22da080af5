from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from authgate.http.app import create_app
from authgate.statedir import prepare_sqlite_file
from authgate.storage.database import create_engine
from authgate.storage.migrate import upgrade
from authgate.testing import FrozenClock, client_for, lifespan, make_settings

PASSWORD = "correct horse battery staple"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


async def _migrate(database: Path) -> None:
    prepare_sqlite_file(database)
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty SQLite database at the head revision, made once per test process.

    Each test's state directory starts with a copy, so the migrations run once per
    process instead of once per test; tests/storage/test_migrations.py runs them for
    real on empty databases.
    """
    database = tmp_path_factory.mktemp("template") / "authgate.db"
    asyncio.run(_migrate(database))
    return database


@pytest.fixture
def settings_factory(tmp_path: Path, migrated_sqlite: Path) -> Callable[..., Any]:
    def factory(**overrides: Any) -> Any:
        settings = make_settings(tmp_path, **overrides)
        database = tmp_path / "authgate.db"
        fresh = settings.database_url is None and settings.state_dir == tmp_path
        if fresh and settings.migrate_on_start and not database.exists():
            shutil.copyfile(migrated_sqlite, database)
            database.chmod(0o600)
        return settings

    return factory


@pytest.fixture
def settings(settings_factory: Callable[..., Any]) -> Any:
    return settings_factory()


@pytest.fixture
async def app(settings: Any, clock: FrozenClock) -> AsyncIterator[FastAPI]:
    application = create_app(settings, clock=clock)
    async with lifespan(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app, headers={"user-agent": "pytest-agent/1.0"}) as c:
        yield c


async def register(client: httpx.AsyncClient, email: str = "ada@example.com") -> dict[str, Any]:
    response = await client.post("/auth/register", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return dict(response.json()["user"])


async def login(client: httpx.AsyncClient, email: str = "ada@example.com") -> dict[str, Any]:
    response = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return dict(response.json())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
