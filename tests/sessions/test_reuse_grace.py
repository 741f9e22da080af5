"""The refresh reuse grace is exact (issue 19 item 17; RFC 9700 s4.14.2).

A spent refresh token presented again inside ``AUTHGATE_REFRESH_REUSE_GRACE`` is the
loser of a concurrent refresh: refused, the session kept. Later it is reuse: the session
is revoked. The window is measured in exact time from the moment the token was spent:
whole seconds compared with ``<=`` made "2 s" last almost 3 s, and let a grace of 0
forgive a replay within the same second.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from authgate.http.app import create_app
from authgate.testing import FrozenClock, client_for, lifespan
from tests.conftest import login, register
from tests.helpers import audit_events


@pytest.fixture
def clock() -> FrozenClock:
    # A quarter past a whole second: the window must not snap to second boundaries.
    return FrozenClock(1_800_000_000.25)


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/auth/refresh", json={"refreshToken": token})


@pytest.fixture
async def served(
    request: pytest.FixtureRequest, settings_factory: Any, clock: FrozenClock
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    settings = settings_factory(refresh_reuse_grace=request.param)
    app = create_app(settings, clock=clock)
    async with lifespan(app), client_for(app, headers={"user-agent": "pytest"}) as client:
        yield app, client


CASES = [
    pytest.param(0, 0.0, False, id="zero-grace-same-instant"),
    pytest.param(0, 0.4, False, id="zero-grace-same-second"),
    pytest.param(2, 1.9, True, id="two-seconds-inside"),
    pytest.param(2, 2.0, False, id="two-seconds-at-the-end"),
    pytest.param(2, 2.7, False, id="two-seconds-not-almost-three"),
    pytest.param(0.5, 0.4, True, id="half-second-inside"),
    pytest.param(0.5, 0.6, False, id="half-second-after"),
]


@pytest.mark.parametrize(("served", "offset", "forgiven"), CASES, indirect=["served"])
async def test_reuse_grace_is_measured_exactly(
    served: tuple[FastAPI, httpx.AsyncClient], clock: FrozenClock, offset: float, forgiven: bool
) -> None:
    app, client = served
    await register(client)
    pair = await login(client)
    rotated = await refresh(client, pair["refreshToken"])
    assert rotated.status_code == 200
    newest = rotated.json()

    clock.advance(offset)
    assert (await refresh(client, pair["refreshToken"])).status_code == 401

    races = await audit_events(app, "token.refresh_race")
    reuses = await audit_events(app, "token.reuse_detected")
    survivor = await refresh(client, newest["refreshToken"])
    if forgiven:
        # The loser of a race: the winner's session lives on.
        assert (len(races), len(reuses)) == (1, 0)
        assert survivor.status_code == 200
    else:
        # Reuse: the whole session is revoked, newest token included.
        assert (len(races), len(reuses)) == (0, 1)
        assert survivor.status_code == 401


def test_grace_accepts_fractions_of_a_second(settings_factory: Any) -> None:
    assert settings_factory(refresh_reuse_grace="0.25").refresh_reuse_grace == 0.25
