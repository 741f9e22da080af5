"""AuthMiddleware's plain-Bearer fast path answers exactly as the full path does."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from authgate.testing import FrozenClock, client_for
from tests.conftest import login, register
from tests.helpers import AUTH_FAILED, TOKEN_EXPIRED, runtime_of
from tests.http.test_middleware import starlette_app


@pytest.fixture
async def pair(client: httpx.AsyncClient) -> dict[str, Any]:
    await register(client)
    return await login(client)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        pytest.param(lambda t: {"Authorization": f"Bearer {t}"}, 200, id="bearer"),
        pytest.param(lambda t: {"Authorization": f"bearer   {t}  "}, 200, id="case-and-spaces"),
        pytest.param(lambda t: {"Authorization": f"Bearer {t}x"}, 401, id="bad-signature"),
        pytest.param(lambda t: {"Authorization": f"Bearer\t{t}"}, 401, id="tab-is-no-scheme"),
        pytest.param(lambda t: {"Authorization": "Bearer "}, 401, id="empty-token"),
        pytest.param(lambda t: {"Authorization": f"Basic {t}"}, 401, id="other-scheme"),
        pytest.param(
            lambda t: {"Authorization": f"Bearer {t}é".encode("latin-1")}, 401, id="non-ascii"
        ),
    ],
)
async def test_bearer_headers(
    app: FastAPI, pair: dict[str, Any], headers: Any, status: int
) -> None:
    async with client_for(starlette_app(app)) as protected:
        response = await protected.get("/api/thing", headers=headers(pair["accessToken"]))
    assert response.status_code == status
    if status == 401:
        assert response.json()["error"] in {AUTH_FAILED["error"], "Authentication required"}


async def test_a_query_token_takes_the_full_path_and_is_refused(
    app: FastAPI, pair: dict[str, Any]
) -> None:
    token = pair["accessToken"]
    async with client_for(starlette_app(app)) as protected:
        response = await protected.get(
            f"/api/thing?access_token={token}", headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code in (400, 401)


async def test_a_cached_token_still_expires_at_the_exact_second(
    app: FastAPI, pair: dict[str, Any], clock: FrozenClock
) -> None:
    token = pair["accessToken"]
    leeway = runtime_of(app).settings.clock_leeway
    ttl = runtime_of(app).settings.access_token_ttl
    async with client_for(starlette_app(app)) as protected:
        headers = {"Authorization": f"Bearer {token}"}
        assert (await protected.get("/api/thing", headers=headers)).status_code == 200
        clock.advance(ttl + leeway - 0.001)
        assert (await protected.get("/api/thing", headers=headers)).status_code == 200
        clock.advance(0.001)
        expired = await protected.get("/api/thing", headers=headers)
    assert expired.status_code == 401
    assert expired.json() == TOKEN_EXPIRED


async def test_the_same_principal_serves_repeated_requests(
    app: FastAPI, pair: dict[str, Any]
) -> None:
    authenticator = runtime_of(app).authenticator
    first = authenticator.authenticate(pair["accessToken"])
    assert authenticator.authenticate(pair["accessToken"]) is first
