"""authgate's routes behind one first-segment gate (issue 18.2): same answers, fewer tries."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import Match

from authgate.http.routing import PrefixRouter, first_segment, route_path
from authgate.testing import lifespan
from tests.conftest import bearer, login, register


def _gate(app: FastAPI) -> PrefixRouter:
    for route in app.router.routes:
        router = getattr(route, "original_router", None)
        if isinstance(router, PrefixRouter):
            return router
    raise AssertionError("authgate's routes are not behind a PrefixRouter")


@pytest.mark.parametrize(
    ("path", "segment"),
    [("/auth/login", "auth"), ("/", ""), ("/api", "api"), ("/.well-known/x", ".well-known")],
)
def test_first_segment(path: str, segment: str) -> None:
    assert first_segment(path) == segment


def test_the_gate_knows_authgate_s_prefixes(app: FastAPI) -> None:
    gate = _gate(app).gate()
    assert gate is not None
    assert {"auth", "api", "oauth2", ".well-known", "login", "account"} <= gate
    assert "hello" not in gate


def test_a_foreign_path_is_refused_without_trying_authgate_s_routes(app: FastAPI) -> None:
    router = _gate(app)
    tried: list[Any] = []
    original = PrefixRouter.__mro__[1].matches

    def spy(self: Any, scope: Any) -> Any:
        tried.append(scope["path"])
        return original(self, scope)

    scope = {"type": "http", "path": "/hello", "root_path": "", "method": "GET"}
    PrefixRouter.__mro__[1].matches = spy  # type: ignore[method-assign]
    try:
        assert router.matches(scope)[0] is Match.NONE
    finally:
        PrefixRouter.__mro__[1].matches = original  # type: ignore[method-assign]
    assert tried == []


async def test_user_routes_added_after_create_app_are_served(settings: Any, clock: Any) -> None:
    from authgate.http.app import create_app

    app = create_app(settings, clock=clock)

    @app.get("/hello")
    async def hello() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/auth/custom")  # under one of authgate's own prefixes, added later
    async def custom() -> dict[str, str]:
        return {"custom": "yes"}

    async with lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            assert (await client.get("/hello")).json() == {"ok": True}
            assert (await client.get("/auth/custom")).json() == {"custom": "yes"}
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.post("/hello")).status_code == 405
            assert (await client.get("/nowhere")).status_code == 404
            await register(client)
            assert (await client.get("/login")).status_code == 200
            assert (await client.get("/openapi.json")).json()["paths"].get("/auth/login")


def test_a_dynamic_first_segment_turns_the_gate_off() -> None:
    router = PrefixRouter()

    @router.get("/{anything}/x")
    async def anything() -> None:
        return None

    assert router.gate() is None


@pytest.mark.parametrize(
    ("path", "root", "expected"),
    [
        pytest.param("/auth/login", "", "/auth/login", id="no-root"),
        pytest.param("/gate/auth/login", "/gate", "/auth/login", id="under-root"),
        pytest.param("/gate", "/gate", "", id="the-root-itself"),
        pytest.param("/gateway/x", "/gate", "/gateway/x", id="root-prefix-of-a-segment"),
    ],
)
def test_route_path_is_starlette_s(path: str, root: str, expected: str) -> None:
    assert route_path({"path": path, "root_path": root}) == expected


async def test_a_request_tries_only_the_routers_of_its_first_segment(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """``/api/ai/chat`` asks the ``/api`` routers, never the fifteen ``/auth`` ones."""
    from fastapi.routing import APIRouter

    from authgate.http.routes import admin_users, agent

    asked: list[Any] = []
    original = APIRouter.matches

    def spy(self: Any, scope: Any) -> Any:
        if not isinstance(self, PrefixRouter):
            asked.append(self)
        return original(self, scope)

    APIRouter.matches = spy  # type: ignore[method-assign]
    try:
        await register(client)
        headers = bearer((await login(client))["accessToken"])
        answer = await client.post("/api/ai/chat", json={"message": "hi"}, headers=headers)
        wrong_method = await client.get("/api/ai/chat", headers=headers)
    finally:
        APIRouter.matches = original  # type: ignore[method-assign]
    assert answer.status_code == 200
    assert wrong_method.status_code == 405  # a partial match still answers 405
    api_asks = [router for router in asked if router in (agent.router, admin_users.router)]
    assert api_asks
    from authgate.http.routes import auth

    assert auth.router not in asked[asked.index(api_asks[0]) :]


async def test_every_segment_still_reaches_its_routes(client: httpx.AsyncClient) -> None:
    """One route of each kind of router behind the table: same answers as before."""
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/readyz")).status_code in (200, 503)
    assert (await client.get("/.well-known/jwks.json")).status_code == 200
    assert (await client.get("/login")).status_code == 200
    assert (await client.get("/auth/me")).status_code == 401
    assert (await client.post("/auth/me")).status_code == 405
    assert (await client.get("/auth/nowhere")).status_code == 404
    assert (await client.get("/api/nowhere")).status_code in (401, 404)
