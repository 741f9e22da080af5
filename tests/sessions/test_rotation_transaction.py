"""A refresh rotation is one transaction on one connection: the token is spent, its
replacement stored, the session's last use and the audit event written, all or nothing,
on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from authgate.devices import DeviceInfo
from authgate.http.app import create_app
from authgate.testing import FrozenClock, client_for, lifespan, make_settings
from tests.conftest import PASSWORD, login, register
from tests.helpers import audit_events, runtime_of
from tests.scaleout.infra import postgres_database

UA = {"user-agent": "rotation-test/1.0"}
BASE = "http://testserver"
DEVICE = DeviceInfo(user_agent="rotation-test/1.0", ip="127.0.0.1", accept_language="en")

# A database that refuses the rotation's audit row, so the transaction fails at its end.
_REFUSE_AUDIT = {
    "sqlite": [
        "CREATE TRIGGER refuse_refresh_audit BEFORE INSERT ON audit_events "
        "WHEN NEW.event = 'token.refresh' BEGIN SELECT RAISE(ABORT, 'audit refused'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_refresh_audit() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'audit refused'; END $$",
        "CREATE TRIGGER refuse_refresh_audit BEFORE INSERT ON audit_events FOR EACH ROW "
        "WHEN (NEW.event = 'token.refresh') EXECUTE FUNCTION refuse_refresh_audit()",
    ],
}
_ALLOW_AUDIT = {
    "sqlite": ["DROP TRIGGER refuse_refresh_audit"],
    "postgresql": ["DROP TRIGGER refuse_refresh_audit ON audit_events"],
}


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    if request.param == "sqlite":
        yield None
        return
    with postgres_database() as url:
        yield url


@pytest.fixture
async def backend(
    database_url: str | None, tmp_path: Path, clock: FrozenClock
) -> AsyncIterator[FastAPI]:
    overrides: dict[str, Any] = {"rate_limit_enabled": False}
    if database_url is not None:
        overrides.update(database_url=database_url, auto_migrate=True)
    app = create_app(make_settings(tmp_path, **overrides), clock=clock)
    async with lifespan(app):
        yield app


@pytest.fixture
async def client(backend: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(backend, headers=UA) as c:
        yield c


async def _run(engine: AsyncEngine, statements: list[str]) -> None:
    async with engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement))


async def _refresh_token_rows(engine: AsyncEngine) -> list[tuple[str, str]]:
    async with engine.connect() as conn:
        query = text("SELECT token_hash, status FROM refresh_tokens ORDER BY issued_at, status")
        return [(row[0], row[1]) for row in (await conn.execute(query)).all()]


async def _last_used(engine: AsyncEngine, session_id: str) -> int:
    async with engine.connect() as conn:
        query = text("SELECT last_used_at FROM sessions WHERE id = :id")
        return int((await conn.execute(query, {"id": session_id})).scalar_one())


def _metric(text_body: str, name: str) -> float:
    line = next(line for line in text_body.splitlines() if line.startswith(name + " "))
    return float(line.split()[-1])


async def test_refresh_stores_its_audit_event_and_announces_it(
    backend: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await register(client)
    pair = await login(client)
    response = await client.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert response.status_code == 200, response.text
    [stored] = await audit_events(backend, "token.refresh")
    assert (stored.user_id, stored.session_id) == (user["id"], pair["sessionId"])
    assert stored.user_agent == UA["user-agent"]
    assert stored.detail is None
    # The observer (metrics) saw it once the transaction had committed.
    metrics = (await client.get("/metrics")).text
    assert _metric(metrics, "authgate_tokens_refreshed_total") == 1


async def test_a_failed_rotation_writes_nothing_and_the_token_stays_unspent(
    backend: FastAPI, client: httpx.AsyncClient, database_url: str | None, clock: FrozenClock
) -> None:
    """The audit insert fails last: the claim, the replacement and last use roll back."""
    dialect = "sqlite" if database_url is None else "postgresql"
    engine = runtime_of(backend).store.engine
    await register(client)
    pair = await login(client)
    before = await _refresh_token_rows(engine)
    last_used = await _last_used(engine, pair["sessionId"])
    clock.advance(60)

    await _run(engine, _REFUSE_AUDIT[dialect])
    # The app answers 500; the transport would otherwise re-raise the error as well.
    transport = httpx.ASGITransport(app=backend, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=BASE, headers=UA) as quiet:
        failed = await quiet.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert failed.status_code == 500
    assert await _refresh_token_rows(engine) == before
    assert await _last_used(engine, pair["sessionId"]) == last_used
    assert await audit_events(backend, "token.refresh") == []
    metrics = (await client.get("/metrics")).text
    assert _metric(metrics, "authgate_tokens_refreshed_total") == 0

    await _run(engine, _ALLOW_AUDIT[dialect])
    again = await client.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert again.status_code == 200, again.text
    assert len(await audit_events(backend, "token.refresh")) == 1


async def test_a_rotation_checks_out_one_connection_and_commits_once(
    backend: FastAPI, database_url: str | None
) -> None:
    """SQLite: one transaction. PostgreSQL: one statement that reads the grant and does
    every write (atomic on its own), run by asyncpg outside any transaction block; the
    two-statement form for a session the instance has not seen is in
    test_one_round_trip.py."""
    runtime = runtime_of(backend)
    user = await runtime.users.register("ada@example.com", PASSWORD)
    pair = await runtime.auth.start_session(user, DEVICE)
    engine = runtime_of(backend).store.engine.sync_engine
    seen: list[str] = []
    queries: list[str] = []

    def log_query(record: Any) -> None:
        queries.append(" ".join(record.query.split()))

    def checkout(dbapi_connection: Any, *_: Any) -> None:
        seen.append("checkout")
        if database_url is not None:
            dbapi_connection.driver_connection.add_query_logger(log_query)

    def checkin(dbapi_connection: Any, *_: Any) -> None:
        if database_url is not None:
            dbapi_connection.driver_connection.remove_query_logger(log_query)

    def commit(*_: Any) -> None:
        seen.append("commit")

    event.listen(engine.pool, "checkout", checkout)
    event.listen(engine.pool, "checkin", checkin)
    event.listen(engine, "commit", commit)
    try:
        new = await runtime.auth.refresh(pair.refresh.token, DEVICE)
        await asyncio.sleep(0)  # asyncpg hands query records to loggers with call_soon
    finally:
        event.remove(engine.pool, "checkout", checkout)
        event.remove(engine.pool, "checkin", checkin)
        event.remove(engine, "commit", commit)
    assert new.session_id == pair.session_id
    if database_url is None:
        assert seen == ["checkout", "commit"]
        return
    assert seen == ["checkout"]
    assert len(queries) == 1, queries
    assert queries[0].startswith("WITH live AS (SELECT s.id")
    assert "UPDATE refresh_tokens SET status = 'rotated'" in queries[0]
    assert "INSERT INTO audit_events" in queries[0]


async def test_concurrent_rotations_of_one_token_have_exactly_one_winner(
    backend: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    pair = await login(client)
    attempts = [
        client.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]}) for _ in range(8)
    ]
    statuses = sorted(r.status_code for r in await asyncio.gather(*attempts))
    assert statuses == [200] + [401] * 7
    assert len(await audit_events(backend, "token.refresh")) == 1
    assert len(await audit_events(backend, "token.refresh_race")) == 7
    rows = await _refresh_token_rows(runtime_of(backend).store.engine)
    assert sorted(status for _, status in rows) == ["active", "rotated"]


async def test_a_spent_token_changes_nothing_about_the_session(
    backend: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    """The loser of a race (the token already spent, inside the grace) writes nothing:
    no replacement, no ``token.refresh`` event, and the session's last use stays the
    winner's (on PostgreSQL the session is stamped only when the token is claimable)."""
    engine = runtime_of(backend).store.engine
    await register(client)
    pair = await login(client)
    clock.advance(10)
    won = await client.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert won.status_code == 200, won.text
    last_used = await _last_used(engine, pair["sessionId"])
    rows = await _refresh_token_rows(engine)
    clock.advance(1)  # inside the 2 s grace: refused as a race, the session kept

    lost = await client.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert lost.status_code == 401
    assert await _last_used(engine, pair["sessionId"]) == last_used
    assert await _refresh_token_rows(engine) == rows
    assert len(await audit_events(backend, "token.refresh")) == 1
    assert len(await audit_events(backend, "token.refresh_race")) == 1
