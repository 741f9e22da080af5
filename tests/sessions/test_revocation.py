"""Revocation: logout, logout-all, revoking one session, listing sessions, cleanup."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from authgate.errors import StorageUnavailableError
from authgate.http.app import create_app
from authgate.storage.models import RefreshToken, Session
from authgate.supervision import Heartbeat
from authgate.testing import FrozenClock, client_for, lifespan
from tests.conftest import bearer, login, register
from tests.helpers import AUTH_FAILED, chat, runtime_of


@pytest.fixture
async def pair(client: httpx.AsyncClient) -> dict[str, Any]:
    await register(client)
    return await login(client)


async def test_logout_takes_effect_on_the_next_request(
    client: httpx.AsyncClient, pair: dict[str, Any]
) -> None:
    assert (await chat(client, pair["accessToken"])).status_code == 200
    out = await client.post("/auth/logout", headers=bearer(pair["accessToken"]))
    assert out.status_code == 200
    assert out.json()["success"] is True
    after = await chat(client, pair["accessToken"])
    assert after.status_code == 401
    assert after.json() == AUTH_FAILED
    refreshed = await client.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert refreshed.status_code == 401


async def test_logout_leaves_other_sessions_alone(
    client: httpx.AsyncClient, pair: dict[str, Any]
) -> None:
    other = await login(client)
    await client.post("/auth/logout", headers=bearer(pair["accessToken"]))
    assert (await chat(client, other["accessToken"])).status_code == 200


async def test_logout_needs_a_token(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/logout")
    assert response.status_code == 401
    assert response.json()["error"] == "Authentication required"


async def test_logout_all_revokes_every_session_of_the_user(
    client: httpx.AsyncClient, pair: dict[str, Any]
) -> None:
    second, third = await login(client), await login(client)
    await register(client, "bob@example.com")
    bob = await login(client, "bob@example.com")

    response = await client.post("/auth/logout-all", headers=bearer(second["accessToken"]))
    assert response.status_code == 200
    assert response.json() == {"success": True, "revokedSessions": 3}
    for tokens in (pair, second, third):
        assert (await chat(client, tokens["accessToken"])).json() == AUTH_FAILED
        refreshed = await client.post(
            "/auth/refresh", json={"refreshToken": tokens["refreshToken"]}
        )
        assert refreshed.status_code == 401
    assert (await chat(client, bob["accessToken"])).status_code == 200


async def test_login_after_logout_all_starts_a_working_session(
    client: httpx.AsyncClient, pair: dict[str, Any]
) -> None:
    await client.post("/auth/logout-all", headers=bearer(pair["accessToken"]))
    fresh = await login(client)
    assert (await chat(client, fresh["accessToken"])).status_code == 200
    refreshed = await client.post("/auth/refresh", json={"refreshToken": fresh["refreshToken"]})
    assert refreshed.status_code == 200


async def test_logout_twice_with_the_same_token_is_refused(
    client: httpx.AsyncClient, pair: dict[str, Any]
) -> None:
    assert (
        await client.post("/auth/logout", headers=bearer(pair["accessToken"]))
    ).status_code == 200
    again = await client.post("/auth/logout", headers=bearer(pair["accessToken"]))
    assert again.status_code == 401
    assert again.json() == AUTH_FAILED


async def test_revocation_survives_a_restart(
    settings: Any, clock: FrozenClock, pair: dict[str, Any], client: httpx.AsyncClient
) -> None:
    """A logged-out access token stays refused by a new process on the same database."""
    await client.post("/auth/logout", headers=bearer(pair["accessToken"]))
    restarted = create_app(settings, clock=clock)
    async with lifespan(restarted), client_for(restarted) as fresh:
        assert (await chat(fresh, pair["accessToken"])).json() == AUTH_FAILED


async def test_sessions_lists_active_sessions_with_the_current_one_marked(
    client: httpx.AsyncClient, pair: dict[str, Any]
) -> None:
    other = await login(client)
    response = await client.get("/auth/sessions", headers=bearer(pair["accessToken"]))
    assert response.status_code == 200
    sessions = response.json()["sessions"]
    assert {s["id"] for s in sessions} == {pair["sessionId"], other["sessionId"]}
    current = {s["id"]: s["current"] for s in sessions}
    assert current == {pair["sessionId"]: True, other["sessionId"]: False}
    first = sessions[0]
    assert set(first) == {
        "id",
        "createdAt",
        "lastUsedAt",
        "expiresAt",
        "userAgent",
        "ip",
        "current",
    }
    assert first["userAgent"] == "pytest-agent/1.0"
    assert first["ip"] == "127.0.0.1"
    assert first["createdAt"].endswith("Z")


async def test_sessions_does_not_list_revoked_sessions(
    client: httpx.AsyncClient, pair: dict[str, Any]
) -> None:
    other = await login(client)
    await client.post("/auth/logout", headers=bearer(other["accessToken"]))
    response = await client.get("/auth/sessions", headers=bearer(pair["accessToken"]))
    assert [s["id"] for s in response.json()["sessions"]] == [pair["sessionId"]]


async def test_delete_session_revokes_another_session(
    client: httpx.AsyncClient, pair: dict[str, Any]
) -> None:
    other = await login(client)
    response = await client.delete(
        f"/auth/sessions/{other['sessionId']}", headers=bearer(pair["accessToken"])
    )
    assert response.status_code == 200
    assert response.json() == {"success": True, "sessionId": other["sessionId"]}
    assert (await chat(client, other["accessToken"])).json() == AUTH_FAILED
    refreshed = await client.post("/auth/refresh", json={"refreshToken": other["refreshToken"]})
    assert refreshed.status_code == 401
    assert (await chat(client, pair["accessToken"])).status_code == 200


async def test_delete_someone_elses_session_is_not_found(
    client: httpx.AsyncClient, pair: dict[str, Any]
) -> None:
    await register(client, "bob@example.com")
    bob = await login(client, "bob@example.com")
    response = await client.delete(
        f"/auth/sessions/{bob['sessionId']}", headers=bearer(pair["accessToken"])
    )
    assert response.status_code == 404
    assert set(response.json()) == {"error", "message"}
    assert (await chat(client, bob["accessToken"])).status_code == 200


@pytest.mark.parametrize(
    "session_id",
    [
        pytest.param("00000000-0000-0000-0000-000000000000", id="unknown"),
        pytest.param("not-a-uuid", id="garbage"),
        pytest.param("x" * 500, id="long"),
    ],
)
async def test_delete_unknown_session_is_not_found(
    client: httpx.AsyncClient, pair: dict[str, Any], session_id: str
) -> None:
    response = await client.delete(
        f"/auth/sessions/{session_id}", headers=bearer(pair["accessToken"])
    )
    assert response.status_code == 404


async def test_delete_an_already_revoked_session_is_not_found(
    client: httpx.AsyncClient, pair: dict[str, Any]
) -> None:
    other = await login(client)
    path = f"/auth/sessions/{other['sessionId']}"
    assert (await client.delete(path, headers=bearer(pair["accessToken"]))).status_code == 200
    assert (await client.delete(path, headers=bearer(pair["accessToken"]))).status_code == 404


async def _count(app: FastAPI, model: Any) -> int:
    async with runtime_of(app).store.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(model))).scalar_one())


async def test_cleanup_removes_expired_sessions_and_refresh_tokens(
    app: FastAPI, client: httpx.AsyncClient, pair: dict[str, Any], clock: FrozenClock, settings: Any
) -> None:
    await client.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert await _count(app, Session) == 1
    assert await _count(app, RefreshToken) == 2

    assert await runtime_of(app).auth.cleanup() == 0
    assert await _count(app, RefreshToken) == 2

    clock.advance(settings.session_absolute_ttl + 1)
    assert await runtime_of(app).auth.cleanup() == 1
    assert await _count(app, Session) == 0
    assert await _count(app, RefreshToken) == 0


async def test_cleanup_removes_expired_refresh_tokens_of_live_sessions(
    app: FastAPI, client: httpx.AsyncClient, pair: dict[str, Any], clock: FrozenClock, settings: Any
) -> None:
    clock.advance(settings.refresh_token_ttl + 1)
    assert await runtime_of(app).auth.cleanup() == 0
    assert await _count(app, RefreshToken) == 0
    assert await _count(app, Session) == 1


async def test_cleanup_purges_revocation_entries_and_long_revoked_sessions(
    app: FastAPI, client: httpx.AsyncClient, pair: dict[str, Any], clock: FrozenClock, settings: Any
) -> None:
    runtime = runtime_of(app)
    await client.post("/auth/logout", headers=bearer(pair["accessToken"]))
    assert pair["sessionId"] in runtime.revocations

    await runtime.auth.cleanup()
    assert pair["sessionId"] in runtime.revocations  # its access tokens may still be live

    # Once every access token of the session has expired, the entry is no longer needed.
    clock.advance(settings.access_token_ttl + settings.clock_leeway + 1)
    await runtime.auth.cleanup()
    assert len(runtime.revocations) == 0
    assert (await chat(client, pair["accessToken"])).status_code == 401  # expired anyway
    assert await _count(app, Session) == 1

    clock.advance(settings.refresh_token_ttl)
    assert await runtime.auth.cleanup() == 1
    assert await _count(app, Session) == 0


async def test_cleanup_runs_periodically_and_survives_a_failed_sweep(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """The server's background loop: sweep every ``cleanup_interval``, keep going while the
    database is down (other errors are the supervisor's, tests/test_supervision.py)."""
    runtime = runtime_of(app)
    sweeps = 0
    sleeps: list[float] = []

    async def sweep() -> int:
        nonlocal sweeps
        sweeps += 1
        if sweeps == 1:
            raise StorageUnavailableError("database")
        if sweeps == 3:
            raise asyncio.CancelledError  # stop the loop, as shutdown does
        return 0

    async def instant_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    monkeypatch.setattr(runtime.auth, "cleanup", sweep)
    monkeypatch.setattr("authgate.runtime.anyio.sleep", instant_sleep)
    with pytest.raises(asyncio.CancelledError):
        await runtime.cleanup_forever(Heartbeat(time.monotonic))
    assert sweeps == 3
    assert sleeps == [settings.cleanup_interval] * 3
