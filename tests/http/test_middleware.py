"""The pure ASGI ``AuthMiddleware`` protecting a plain Starlette app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from authgate import AuthMiddleware, Principal
from authgate.testing import FrozenClock, client_for
from tests.conftest import bearer, login, register
from tests.helpers import AUTH_FAILED, AUTH_REQUIRED, TOKEN_EXPIRED, create_admin, runtime_of


async def whoami(request: Request) -> JSONResponse:
    principal = request.state.principal
    assert isinstance(principal, Principal)
    assert request.scope["authgate.principal"] is principal
    return JSONResponse(
        {
            "id": principal.id,
            "email": principal.email,
            "roles": list(principal.roles),
            "permissions": sorted(principal.permissions),
            "session_id": principal.session_id,
        }
    )


async def public(request: Request) -> JSONResponse:
    return JSONResponse({"principal": "principal" in request.scope.get("state", {})})


def starlette_app(authgate: FastAPI, **options: Any) -> AuthMiddleware:
    inner = Starlette(
        routes=[
            Route("/public", public),
            Route("/apiary", public),
            Route("/api/thing", whoami),
            Route("/api", whoami),
            Route("/api/admin/thing", whoami),
        ]
    )
    return AuthMiddleware(
        inner,
        authenticator=runtime_of(authgate).authenticator,
        rules={"/api": ["use_agent"], "/api/admin/": ["manage_agent"]},
        secure_cookies=False,
        **options,
    )


@pytest.fixture
async def protected(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(starlette_app(app)) as c:
        yield c


@pytest.fixture
async def pair(client: httpx.AsyncClient) -> dict[str, Any]:
    await register(client)
    return await login(client)


async def test_unprotected_paths_pass_through(protected: httpx.AsyncClient) -> None:
    response = await protected.get("/public")
    assert response.status_code == 200
    assert response.json() == {"principal": False}


async def test_prefix_match_is_by_path_segment(protected: httpx.AsyncClient) -> None:
    """``/api`` protects ``/api`` and ``/api/...`` but not ``/apiary``."""
    assert (await protected.get("/apiary")).status_code == 200
    assert (await protected.get("/api")).status_code == 401
    assert (await protected.get("/api/thing")).status_code == 401


async def test_no_token_is_401_with_the_exact_body(protected: httpx.AsyncClient) -> None:
    response = await protected.get("/api/thing")
    assert response.status_code == 401
    assert response.json() == AUTH_REQUIRED
    assert response.headers["www-authenticate"] == 'Bearer realm="authgate"'


async def test_principal_reaches_the_handler(
    protected: httpx.AsyncClient, pair: dict[str, Any]
) -> None:
    response = await protected.get("/api/thing", headers=bearer(pair["accessToken"]))
    assert response.status_code == 200
    assert response.json() == {
        "id": pair["user"]["id"],
        "email": "ada@example.com",
        "roles": ["user"],
        "permissions": ["use_agent"],
        "session_id": pair["sessionId"],
    }


async def test_longest_prefix_decides_and_403_has_the_shape(
    protected: httpx.AsyncClient, pair: dict[str, Any]
) -> None:
    response = await protected.get("/api/admin/thing", headers=bearer(pair["accessToken"]))
    assert response.status_code == 403
    assert response.json()["error"] == "Insufficient permissions"
    assert set(response.json()) == {"error", "message"}
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


async def test_admin_passes_the_admin_prefix(
    app: FastAPI, client: httpx.AsyncClient, protected: httpx.AsyncClient
) -> None:
    admin = await create_admin(app, client)
    response = await protected.get("/api/admin/thing", headers=bearer(admin["accessToken"]))
    assert response.status_code == 200
    assert response.json()["permissions"] == ["manage_agent", "manage_users", "use_agent"]


async def test_bad_token_is_401_authentication_failed(protected: httpx.AsyncClient) -> None:
    response = await protected.get("/api/thing", headers=bearer("x.y.z"))
    assert response.status_code == 401
    assert response.json() == AUTH_FAILED
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_expired_token_is_401_token_expired(
    protected: httpx.AsyncClient, pair: dict[str, Any], clock: FrozenClock
) -> None:
    clock.advance(16 * 60)
    response = await protected.get("/api/thing", headers=bearer(pair["accessToken"]))
    assert response.json() == TOKEN_EXPIRED


async def test_logout_through_authgate_is_seen_by_the_middleware(
    client: httpx.AsyncClient, protected: httpx.AsyncClient, pair: dict[str, Any]
) -> None:
    await client.post("/auth/logout", headers=bearer(pair["accessToken"]))
    response = await protected.get("/api/thing", headers=bearer(pair["accessToken"]))
    assert response.json() == AUTH_FAILED


async def test_access_cookie_authenticates(
    client: httpx.AsyncClient, protected: httpx.AsyncClient, pair: dict[str, Any]
) -> None:
    protected.cookies.set("access_token", pair["accessToken"])
    response = await protected.get("/api/thing")
    assert response.status_code == 200


async def test_token_in_query_is_refused(
    protected: httpx.AsyncClient, pair: dict[str, Any]
) -> None:
    response = await protected.get("/api/thing", params={"access_token": pair["accessToken"]})
    assert response.status_code == 400
    assert set(response.json()) == {"error", "message"}


async def test_a_root_rule_protects_everything(app: FastAPI, pair: dict[str, Any]) -> None:
    inner = Starlette(routes=[Route("/anything", whoami)])
    guarded = AuthMiddleware(
        inner, authenticator=runtime_of(app).authenticator, rules={"/": []}, secure_cookies=False
    )
    async with client_for(guarded) as c:
        assert (await c.get("/anything")).status_code == 401
        ok = await c.get("/anything", headers=bearer(pair["accessToken"]))
        assert ok.status_code == 200
