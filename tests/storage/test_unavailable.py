"""A database that cannot be reached in time gives 503 with a clear JSON error."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from authgate.errors import StorageUnavailableError
from authgate.http.app import create_app
from authgate.storage.store import is_unavailable
from authgate.testing import FrozenClock, client_for, lifespan, make_settings
from tests.conftest import PASSWORD, login, register

UNAVAILABLE = {
    "error": "Service unavailable",
    "message": "The authentication store is temporarily unavailable; retry shortly",
}


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        pytest.param(OperationalError("SELECT 1", {}, Exception("down")), True, id="operational"),
        pytest.param(InterfaceError("SELECT 1", {}, Exception("closed")), True, id="interface"),
        pytest.param(PoolTimeoutError("QueuePool limit reached"), True, id="pool-timeout"),
        pytest.param(ConnectionRefusedError(111, "refused"), True, id="connection-refused"),
        pytest.param(TimeoutError(), True, id="timeout"),
        pytest.param(IntegrityError("INSERT", {}, Exception("dup")), False, id="integrity"),
        pytest.param(ValueError("bug"), False, id="a-bug-stays-a-500"),
    ],
)
def test_which_errors_mean_the_database_is_unavailable(exc: Exception, expected: bool) -> None:
    assert is_unavailable(exc) is expected


async def test_exhausted_pool_answers_503_quickly_then_recovers(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, db_pool_size=1, db_max_overflow=0, db_pool_timeout=0.3)
    app = create_app(settings, clock=FrozenClock())
    async with lifespan(app), client_for(app, headers={"user-agent": "pool/1.0"}) as client:
        await register(client)
        engine = app.state.authgate.store.engine
        async with engine.connect() as held:  # the only connection, checked out
            await held.execute(text("SELECT 1"))
            started = time.monotonic()
            response = await client.post(
                "/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
            )
            elapsed = time.monotonic() - started
        assert response.status_code == 503
        assert response.json() == UNAVAILABLE
        assert response.headers["retry-after"] == "1"
        assert elapsed < 3, "a full pool must fail fast, not hang"
        assert (await login(client))["tokenType"] == "Bearer"


async def test_refresh_with_exhausted_pool_is_503_and_spends_nothing(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, db_pool_size=1, db_max_overflow=0, db_pool_timeout=0.3)
    app = create_app(settings, clock=FrozenClock())
    async with lifespan(app), client_for(app, headers={"user-agent": "pool/1.0"}) as client:
        await register(client)
        pair = await login(client)
        engine = app.state.authgate.store.engine
        async with engine.connect() as held:
            await held.execute(text("SELECT 1"))
            refused = await client.post(
                "/auth/refresh", json={"refreshToken": pair["refreshToken"]}
            )
        assert refused.status_code == 503
        # No partial write: the same refresh token still works once the pool frees up.
        again = await client.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]})
        assert again.status_code == 200, again.text


async def test_unreachable_postgres_at_startup_fails_fast(tmp_path: Path) -> None:
    from tests.scaleout.infra import free_port

    url = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nothing"
    settings = make_settings(tmp_path, database_url=url, db_connect_timeout=1)
    app = create_app(settings)
    started = time.monotonic()
    try:
        with pytest.raises(StorageUnavailableError):
            async with lifespan(app):
                pass
    finally:
        await app.state.authgate.close()
    assert time.monotonic() - started < 5


def test_unavailable_body_shape_is_stable() -> None:
    from authgate.http.error_responses import error_response

    response = error_response(StorageUnavailableError("redis"))
    assert response.status_code == 503
    assert httpx.Response(503, content=response.body).json() == UNAVAILABLE
