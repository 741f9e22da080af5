"""One place maps a store outage to the documented 503, for every route (issue 21).

The faults are injected at the store boundary with the exceptions a real outage raises
(tests/scaleout/test_recovery.py runs the real thing against PostgreSQL and Redis).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from authgate.errors import StorageUnavailableError
from authgate.http.app import create_app
from authgate.ratelimit import StoreUnavailable
from authgate.storage.models import Session
from authgate.storage.outage import is_unavailable
from authgate.testing import FrozenClock, client_for, lifespan, make_settings
from tests.conftest import PASSWORD, bearer, login, register
from tests.helpers import chat, runtime_of

UNAVAILABLE = {
    "error": "Service unavailable",
    "message": "The authentication store is temporarily unavailable; retry shortly",
}
NOT_RECORDED = (
    "The logout is not recorded yet: the database is unavailable. This instance "
    "refuses the token from now on and records the logout when the database is back"
)


class _PgError(Exception):
    """What asyncpg raises, as SQLAlchemy's adapter carries it: a SQLSTATE code."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__("server says no")
        self.sqlstate = sqlstate


def pg_error(sqlstate: str) -> DBAPIError:
    return DBAPIError("SELECT 1", {}, _PgError(sqlstate))


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        pytest.param(pg_error("57P03"), True, id="starting-up-57P03"),
        pytest.param(pg_error("57P01"), True, id="admin-shutdown-57P01"),
        pytest.param(pg_error("08006"), True, id="connection-failure-08006"),
        pytest.param(pg_error("53300"), True, id="too-many-connections-53300"),
        pytest.param(pg_error("25006"), True, id="read-only-after-failover-25006"),
        pytest.param(pg_error("42601"), False, id="syntax-error-stays-a-500"),
        pytest.param(pg_error("23505"), False, id="unique-violation-stays-a-500"),
        pytest.param(StorageUnavailableError("redis"), True, id="typed"),
    ],
)
def test_postgres_states_that_mean_unavailable(exc: Exception, expected: bool) -> None:
    assert is_unavailable(exc) is expected


def _fail(exc: Exception) -> Any:
    async def failing(*_args: Any, **_kwargs: Any) -> Any:
        raise exc

    return failing


def _assert_unavailable(response: httpx.Response, body: dict[str, str] | None = None) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    assert response.json() == (body or UNAVAILABLE)


@pytest.mark.parametrize(
    "exc",
    [
        pytest.param(pg_error("57P03"), id="raw-driver-error-starting-up"),
        pytest.param(ConnectionRefusedError(111, "refused"), id="raw-connection-refused"),
        pytest.param(StorageUnavailableError("database"), id="typed-error"),
    ],
)
async def test_login_during_a_database_outage_is_a_503_not_a_500(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch, exc: Exception
) -> None:
    await register(client)
    monkeypatch.setattr(runtime_of(app).store, "user_by_email", _fail(exc))
    response = await client.post(
        "/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    _assert_unavailable(response)
    assert "x-content-type-options" in response.headers, "the 503 passes the header middleware"


async def test_a_bug_is_still_a_500(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    await register(client)
    monkeypatch.setattr(runtime_of(app).store, "user_by_email", _fail(pg_error("42601")))
    with pytest.raises(DBAPIError):  # not turned into a 503: on to the 500 handler
        await client.post("/auth/login", json={"email": "ada@example.com", "password": PASSWORD})


async def test_oauth2_token_during_an_outage_has_the_documented_503(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        runtime_of(app).clients, "authenticate", _fail(StorageUnavailableError("database"))
    )
    response = await client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": "a", "client_secret": "b"},
    )
    _assert_unavailable(response)
    assert response.headers["cache-control"] == "no-store"


async def test_login_failing_closed_on_the_limit_store_has_the_documented_503(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limited = create_app(make_settings(tmp_path, rate_limit_enabled=True), clock=FrozenClock())
    async with lifespan(limited), client_for(limited) as client:
        limits = runtime_of(limited).ratelimits
        for method in ("check", "reserve", "reserve_login"):
            monkeypatch.setattr(limits, method, _fail(StoreUnavailable()))
        response = await client.post(
            "/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
        )
    _assert_unavailable(response)


async def test_healthz_503_has_the_documented_body(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok", "database": "ok"}
    monkeypatch.setattr(runtime_of(app).store, "ping", _fail(pg_error("57P03")))
    response = await client.get("/healthz")
    _assert_unavailable(response, {**UNAVAILABLE, "status": "unavailable", "database": "down"})


async def test_readyz_reports_supervised_tasks_and_a_stale_revocation_view(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "checks": {
            "cleanup": "ok",
            "pending-revocations": "ok",
            "revocation-follower": "ok",
            "revocations": "ok",
        },
    }
    runtime_of(app).revocations.confirm_current(-1)  # nothing confirmed it: stale
    response = await client.get("/readyz")
    checks = {
        "cleanup": "ok",
        "pending-revocations": "ok",
        "revocation-follower": "ok",
        "revocations": "stale",
    }
    _assert_unavailable(response, {**UNAVAILABLE, "status": "not ready", "checks": checks})


async def test_readyz_fails_when_a_task_misses_its_staleness_bound(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    entry = runtime_of(app).supervisor.tasks["cleanup"]
    entry.heartbeat.last -= entry.staleness + 1  # as if it had not beaten for that long
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["cleanup"] == "stale"


async def _revoked_at(app: FastAPI, session_id: str) -> int | None:
    async with runtime_of(app).store._db() as db:
        row = await db.execute(select(Session.revoked_at).where(Session.id == session_id))
        return row.scalar_one()


@pytest.mark.parametrize("path", ["/auth/logout", "/auth/logout-all"])
async def test_a_logout_the_database_cannot_record_is_refused_here_and_completed_later(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    await register(client)
    pair = await login(client)
    store = runtime_of(app).store
    down = _fail(StorageUnavailableError("database"))
    for method in ("child_session_ids", "user_session_ids", "revoke_sessions"):
        monkeypatch.setattr(store, method, down)

    response = await client.post(path, headers=bearer(pair["accessToken"]))
    _assert_unavailable(response, {"error": "Service unavailable", "message": NOT_RECORDED})
    # Refused on this instance at once, though the database has not recorded it.
    assert (await chat(client, pair["accessToken"])).status_code == 401
    revoker = runtime_of(app).auth.revoker
    assert revoker.pending == 1
    assert await revoker.complete_pending() == 0, "still down: kept for the next try"

    monkeypatch.undo()
    assert await revoker.complete_pending() == 1
    assert revoker.pending == 0
    assert await _revoked_at(app, pair["sessionId"]) is not None
    refused = await client.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert refused.status_code == 401


async def test_the_outage_503_is_counted_and_logged_as_a_503(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The access log, metrics, headers and the outage check share one layer
    (http/edge.py): the 503 the outage check answers is what the metrics count and the
    access log writes, as when they were separate middlewares around it."""
    import logging

    await register(client)
    monkeypatch.setattr(runtime_of(app).store, "user_by_email", _fail(pg_error("57P03")))
    access = logging.getLogger("authgate.access")
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    keep = Keep()
    access.addHandler(keep)
    access.setLevel(logging.INFO)
    try:
        response = await client.post(
            "/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
        )
    finally:
        access.removeHandler(keep)
        access.setLevel(logging.NOTSET)
    _assert_unavailable(response)
    assert any(line.endswith('"POST /auth/login HTTP/1.1" 503') for line in lines)
    metrics = (await client.get("/metrics")).text
    assert 'route="/auth/login",status="5xx"' in metrics
