"""One way of sending the access token per request (RFC 6750 s2; issue 19 item 11).

Before the fix, an auth cookie for one user plus a Bearer token for another was
answered as the Bearer user (the CSRF middleware silently dropped the cookie). Now the
request is refused with 400 and ``error="invalid_request"`` (RFC 6750 s3.1), whoever
each credential names, in the authgate app and behind ``AuthMiddleware`` alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from authgate import AuthMiddleware
from authgate.testing import client_for
from tests.conftest import PASSWORD, login, register
from tests.helpers import runtime_of

Pairs = dict[str, dict[str, Any]]


@pytest.fixture
async def pairs(client: httpx.AsyncClient) -> Pairs:
    """Ada signed in with cookies (the browser), Bob with a token (anyone else)."""
    await register(client)
    await register(client, "bob@example.com")
    ada = await client.post(
        "/auth/login", json={"email": "ada@example.com", "password": PASSWORD, "useCookies": True}
    )
    assert client.cookies.get("access_token")
    return {"ada": ada.json(), "bob": await login(client, "bob@example.com")}


HEADERS: list[Any] = [
    pytest.param(lambda p: f"Bearer {p['bob']['accessToken']}", id="bearer-for-another-user"),
    pytest.param(lambda p: f"Bearer {p['ada']['accessToken']}", id="bearer-for-the-same-user"),
    pytest.param(lambda p: "Bearer not-a-token", id="bearer-invalid"),
    pytest.param(lambda p: f"DPoP {p['bob']['accessToken']}", id="dpop-scheme"),
]
ROUTES = [
    pytest.param("GET", "/auth/me", id="me"),
    pytest.param("POST", "/api/ai/chat", id="chat"),
    pytest.param("GET", "/auth/sessions", id="sessions"),
    pytest.param("POST", "/auth/logout", id="logout"),
]


def _assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert response.json() == {
        "error": "Invalid request",
        "message": "Send the access token one way: the Authorization header or the cookie, "
        "not both",
    }
    assert 'error="invalid_request"' in response.headers["www-authenticate"]


@pytest.mark.parametrize("authorization", HEADERS)
@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_a_cookie_and_an_authorization_header_are_refused(
    client: httpx.AsyncClient,
    pairs: Pairs,
    authorization: Callable[[Pairs], str],
    method: str,
    path: str,
) -> None:
    body = {"message": "hi"} if path == "/api/ai/chat" else None
    response = await client.request(
        method, path, json=body, headers={"Authorization": authorization(pairs)}
    )
    _assert_refused(response)


async def test_a_cookie_with_client_authentication_is_not_used(
    client: httpx.AsyncClient, pairs: Pairs
) -> None:
    """``Basic`` sends no access token: the cookies are dropped as before, not used."""
    response = await client.get("/auth/me", headers={"Authorization": "Basic Ym9iOnB3"})
    assert response.status_code == 401


async def test_nothing_was_done_by_a_refused_logout(
    client: httpx.AsyncClient, pairs: Pairs
) -> None:
    bob = pairs["bob"]["accessToken"]
    _assert_refused(await client.post("/auth/logout", headers={"Authorization": f"Bearer {bob}"}))
    client.cookies.clear()
    me = await client.get("/auth/me", headers={"Authorization": f"Bearer {bob}"})
    assert me.status_code == 200


async def test_each_credential_alone_still_works(
    app: FastAPI, client: httpx.AsyncClient, pairs: Pairs
) -> None:
    assert (await client.get("/auth/me")).json()["email"] == "ada@example.com"
    bob = pairs["bob"]["accessToken"]
    async with client_for(app) as fresh:
        answer = await fresh.get("/auth/me", headers={"Authorization": f"Bearer {bob}"})
    assert answer.json()["email"] == "bob@example.com"


async def _whoami(request: Request) -> JSONResponse:
    return JSONResponse({"id": request.state.principal.id})


async def test_auth_middleware_alone_refuses_both(app: FastAPI, pairs: Pairs) -> None:
    """Without authgate's CSRF middleware in front, the credential reader itself refuses."""
    guarded = AuthMiddleware(
        Starlette(routes=[Route("/api/thing", _whoami)]),
        authenticator=runtime_of(app).authenticator,
        rules={"/api": ["use_agent"]},
        secure_cookies=False,
    )
    cookie = {"access_token": pairs["ada"]["accessToken"]}
    bob = pairs["bob"]["accessToken"]
    async with client_for(guarded, cookies=cookie) as c:
        _assert_refused(await c.get("/api/thing", headers={"Authorization": f"Bearer {bob}"}))
        assert (await c.get("/api/thing")).status_code == 200
