"""Refresh rotation (RFC 9700 s4.14.2): rotate on use, revoke the session on reuse,
exactly one winner under concurrency, and device binding of refresh tokens."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from authgate.http.app import create_app
from authgate.testing import FrozenClock, client_for, lifespan
from tests.conftest import login, register
from tests.helpers import AUTH_FAILED, audit_events, chat, runtime_of

REFRESH_FAILED = "Invalid refresh token"


@pytest.fixture
async def pair(client: httpx.AsyncClient) -> dict[str, Any]:
    await register(client)
    return await login(client)


async def refresh(client: httpx.AsyncClient, token: str, **kwargs: Any) -> httpx.Response:
    return await client.post("/auth/refresh", json={"refreshToken": token}, **kwargs)


async def test_refresh_returns_a_new_pair_in_the_same_session(
    client: httpx.AsyncClient, pair: dict[str, Any]
) -> None:
    response = await refresh(client, pair["refreshToken"])
    assert response.status_code == 200
    new = response.json()
    assert set(new) == {"accessToken", "refreshToken", "sessionId", "tokenType", "expiresIn"}
    assert new["sessionId"] == pair["sessionId"]
    assert new["refreshToken"] != pair["refreshToken"]
    assert new["accessToken"] != pair["accessToken"]
    assert response.headers["cache-control"] == "no-store"
    assert (await chat(client, new["accessToken"])).status_code == 200


async def test_refresh_rotates_so_the_old_refresh_token_stops_working(
    client: httpx.AsyncClient, pair: dict[str, Any]
) -> None:
    assert (await refresh(client, pair["refreshToken"])).status_code == 200
    again = await refresh(client, pair["refreshToken"])
    assert again.status_code == 401
    assert again.json()["error"] == REFRESH_FAILED


async def test_refresh_chain_keeps_working(
    client: httpx.AsyncClient, pair: dict[str, Any], clock: FrozenClock
) -> None:
    token = pair["refreshToken"]
    for _ in range(5):
        clock.advance(600)
        response = await refresh(client, token)
        assert response.status_code == 200
        token = response.json()["refreshToken"]
        assert (await chat(client, response.json()["accessToken"])).status_code == 200


async def test_replayed_refresh_token_revokes_the_whole_session(
    app: FastAPI, client: httpx.AsyncClient, pair: dict[str, Any], clock: FrozenClock, settings: Any
) -> None:
    rotated = await refresh(client, pair["refreshToken"])
    new = rotated.json()
    clock.advance(settings.refresh_reuse_grace + 1)

    replay = await refresh(client, pair["refreshToken"])
    assert replay.status_code == 401
    assert replay.json()["error"] == REFRESH_FAILED
    assert "www-authenticate" in replay.headers

    # Both the newest refresh token and every access token of the session are dead.
    assert (await refresh(client, new["refreshToken"])).status_code == 401
    assert (await chat(client, new["accessToken"])).json() == AUTH_FAILED
    assert (await chat(client, pair["accessToken"])).json() == AUTH_FAILED

    events = await audit_events(app, "token.reuse_detected")
    assert [(e.session_id, e.user_id) for e in events] == [(pair["sessionId"], pair["user"]["id"])]
    revoked = await audit_events(app, "session.revoked")
    assert [e.detail for e in revoked] == [{"reason": "refresh_reuse"}]


async def test_replay_inside_the_grace_window_is_refused_but_keeps_the_session(
    app: FastAPI, client: httpx.AsyncClient, pair: dict[str, Any]
) -> None:
    """Within ``refresh_reuse_grace`` a repeat is the loser of a race, not a theft."""
    new = (await refresh(client, pair["refreshToken"])).json()
    assert (await refresh(client, pair["refreshToken"])).status_code == 401
    assert (await chat(client, new["accessToken"])).status_code == 200
    assert (await refresh(client, new["refreshToken"])).status_code == 200
    assert await audit_events(app, "token.reuse_detected") == []
    assert len(await audit_events(app, "token.refresh_race")) == 1


async def test_reuse_does_not_touch_other_sessions(
    client: httpx.AsyncClient, pair: dict[str, Any], clock: FrozenClock, settings: Any
) -> None:
    other = await login(client)
    await refresh(client, pair["refreshToken"])
    clock.advance(settings.refresh_reuse_grace + 1)
    assert (await refresh(client, pair["refreshToken"])).status_code == 401
    assert (await chat(client, other["accessToken"])).status_code == 200
    assert (await refresh(client, other["refreshToken"])).status_code == 200


async def test_concurrent_refresh_with_the_same_token_has_exactly_one_winner(
    client: httpx.AsyncClient, pair: dict[str, Any]
) -> None:
    responses = await asyncio.gather(*(refresh(client, pair["refreshToken"]) for _ in range(10)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [401] * 9
    winner = next(r.json() for r in responses if r.status_code == 200)
    # The losers did not take the winner's session down with them.
    assert (await chat(client, winner["accessToken"])).status_code == 200
    assert (await refresh(client, winner["refreshToken"])).status_code == 200


async def test_only_hashes_of_refresh_tokens_are_stored(
    app: FastAPI, client: httpx.AsyncClient, pair: dict[str, Any]
) -> None:
    async with runtime_of(app).store.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT * FROM refresh_tokens"))).all()
    assert rows
    dump = repr(rows)
    assert pair["refreshToken"] not in dump
    assert pair["refreshToken"].split(".")[2] not in dump


async def test_refresh_from_another_device_is_rejected_and_audited(
    app: FastAPI, client: httpx.AsyncClient, pair: dict[str, Any]
) -> None:
    response = await refresh(client, pair["refreshToken"], headers={"user-agent": "thief/0.1"})
    assert response.status_code == 401
    assert response.json()["error"] == REFRESH_FAILED
    assert "different device" in response.json()["message"]
    events = await audit_events(app, "token.device_mismatch")
    assert len(events) == 1
    assert events[0].session_id == pair["sessionId"]
    assert events[0].user_agent == "thief/0.1"
    # The rightful device can still refresh with the same token.
    assert (await refresh(client, pair["refreshToken"])).status_code == 200


async def test_refresh_from_another_language_setting_is_a_different_device(
    client: httpx.AsyncClient, pair: dict[str, Any]
) -> None:
    response = await refresh(client, pair["refreshToken"], headers={"accept-language": "fr-FR"})
    assert response.status_code == 401


async def test_fingerprint_inputs_are_configurable(
    settings_factory: Any, clock: FrozenClock
) -> None:
    """With only the IP as input, a changed user agent is the same device."""
    app = create_app(settings_factory(device_fingerprint_inputs="ip"), clock=clock)
    async with lifespan(app), client_for(app, headers={"user-agent": "a"}) as client:
        await register(client)
        pair = await login(client)
        response = await refresh(client, pair["refreshToken"], headers={"user-agent": "b"})
        assert response.status_code == 200


async def test_refresh_token_expires(
    client: httpx.AsyncClient, pair: dict[str, Any], clock: FrozenClock, settings: Any
) -> None:
    clock.advance(settings.refresh_token_ttl + settings.clock_leeway + 1)
    response = await refresh(client, pair["refreshToken"])
    assert response.status_code == 401
    assert response.json()["error"] == REFRESH_FAILED


async def test_refresh_never_outlives_the_session_absolute_lifetime(
    settings_factory: Any, clock: FrozenClock
) -> None:
    settings = settings_factory(session_absolute_ttl="2d", refresh_token_ttl="7d")
    app = create_app(settings, clock=clock)
    async with lifespan(app), client_for(app) as client:
        await register(client)
        token = (await login(client))["refreshToken"]
        clock.advance(86400)
        token = (await refresh(client, token)).json()["refreshToken"]
        clock.advance(86400 + settings.clock_leeway + 1)
        assert (await refresh(client, token)).status_code == 401


async def test_refresh_without_a_token_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/refresh", json={})
    assert response.status_code == 401
    assert response.json()["error"] == REFRESH_FAILED
