"""``require(...)`` on the shipped agent endpoints: the exact answers for each failure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI

from authgate import Principal, require
from authgate.http.app import create_app
from authgate.testing import FrozenClock, client_for, lifespan
from tests.conftest import bearer, login, register
from tests.helpers import AUTH_FAILED, AUTH_REQUIRED, TOKEN_EXPIRED, chat, create_admin


@pytest.fixture
async def pair(client: httpx.AsyncClient) -> dict[str, Any]:
    await register(client)
    return await login(client)


async def test_no_token_gets_the_authentication_required_answer(client: httpx.AsyncClient) -> None:
    response = await chat(client, None)
    assert response.status_code == 401
    assert response.json() == AUTH_REQUIRED
    # RFC 6750 s3.1: no error code when the request carried no credentials.
    assert response.headers["www-authenticate"] == 'Bearer realm="authgate"'


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param("Basic YWRhOnB3", id="basic-scheme"),
        pytest.param("Token abc", id="other-scheme"),
    ],
)
async def test_other_auth_schemes_count_as_no_token(
    client: httpx.AsyncClient, authorization: str
) -> None:
    response = await chat(client, None, headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.json() == AUTH_REQUIRED


async def test_empty_bearer_is_an_authentication_failure(client: httpx.AsyncClient) -> None:
    response = await chat(client, None, headers={"Authorization": "Bearer   "})
    assert response.status_code == 401
    assert response.json() == AUTH_FAILED


async def test_bearer_scheme_is_case_insensitive(
    client: httpx.AsyncClient, pair: dict[str, Any]
) -> None:
    """RFC 7235 s2.1: the auth scheme is case-insensitive."""
    response = await chat(client, None, headers={"Authorization": f"bearer {pair['accessToken']}"})
    assert response.status_code == 200


async def test_chat_echoes_the_message_and_the_caller(
    client: httpx.AsyncClient, pair: dict[str, Any]
) -> None:
    response = await client.post(
        "/api/ai/chat", json={"message": "hello agent"}, headers=bearer(pair["accessToken"])
    )
    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "hello agent"
    assert "hello agent" in body["reply"]
    assert body["user"] == {"id": pair["user"]["id"], "email": "ada@example.com"}


async def test_expired_token_gets_the_expired_answer(
    client: httpx.AsyncClient, pair: dict[str, Any], clock: FrozenClock
) -> None:
    clock.advance(16 * 60)
    response = await chat(client, pair["accessToken"])
    assert response.status_code == 401
    assert response.json() == TOKEN_EXPIRED
    assert response.headers["www-authenticate"].startswith('Bearer realm="authgate", error=')


async def test_missing_permission_is_403(client: httpx.AsyncClient, pair: dict[str, Any]) -> None:
    response = await client.get("/api/admin/users", headers=bearer(pair["accessToken"]))
    assert response.status_code == 403
    body = response.json()
    assert set(body) == {"error", "message"}
    assert body["error"] == "Insufficient permissions"
    assert "manage_users" in body["message"]
    challenge = response.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="manage_users"' in challenge


async def test_admin_can_list_users(
    app: FastAPI, client: httpx.AsyncClient, pair: dict[str, Any]
) -> None:
    admin = await create_admin(app, client)
    assert admin["user"]["permissions"] == ["manage_agent", "manage_users", "use_agent"]
    response = await client.get("/api/admin/users", headers=bearer(admin["accessToken"]))
    assert response.status_code == 200
    emails = [u["email"] for u in response.json()["users"]]
    assert sorted(emails) == ["ada@example.com", "root@example.com"]
    assert "password" not in response.text.lower()
    # Admins use the agent too.
    assert (await chat(client, admin["accessToken"])).status_code == 200


async def test_admin_users_paginates(
    app: FastAPI, client: httpx.AsyncClient, pair: dict[str, Any]
) -> None:
    admin = await create_admin(app, client)
    response = await client.get(
        "/api/admin/users?limit=1&offset=1", headers=bearer(admin["accessToken"])
    )
    assert response.status_code == 200
    assert len(response.json()["users"]) == 1
    bad = await client.get("/api/admin/users?limit=0", headers=bearer(admin["accessToken"]))
    assert bad.status_code == 422


async def test_role_permissions_are_configurable(
    settings_factory: Callable[..., Any], clock: FrozenClock
) -> None:
    settings = settings_factory(
        role_permissions={"user": ["use_agent", "manage_users"], "admin": ["manage_users"]}
    )
    app = create_app(settings, clock=clock)
    async with lifespan(app), client_for(app) as client:
        await register(client)
        pair = await login(client)
        response = await client.get("/api/admin/users", headers=bearer(pair["accessToken"]))
        assert response.status_code == 200


async def test_token_in_the_url_query_is_refused(
    client: httpx.AsyncClient, pair: dict[str, Any]
) -> None:
    """RFC 6750 s5.3: never accept tokens in URLs, even alongside a good header."""
    response = await client.post(
        "/api/ai/chat",
        params={"access_token": pair["accessToken"]},
        json={"message": "hi"},
        headers=bearer(pair["accessToken"]),
    )
    assert response.status_code == 400
    assert set(response.json()) == {"error", "message"}
    assert pair["accessToken"] not in response.text


async def test_query_token_alone_is_refused(
    client: httpx.AsyncClient, pair: dict[str, Any]
) -> None:
    response = await client.get("/auth/me", params={"access_token": pair["accessToken"]})
    assert response.status_code == 400


async def test_device_check_on_access_rejects_another_device(
    settings_factory: Callable[..., Any], clock: FrozenClock
) -> None:
    app = create_app(settings_factory(device_check_on_access=True), clock=clock)
    async with lifespan(app), client_for(app, headers={"user-agent": "laptop"}) as client:
        await register(client)
        pair = await login(client)
        assert (await chat(client, pair["accessToken"])).status_code == 200
        stolen = await chat(client, pair["accessToken"], headers={"user-agent": "elsewhere"})
        assert stolen.status_code == 401
        assert stolen.json() == AUTH_FAILED


async def test_device_check_is_off_by_default(
    client: httpx.AsyncClient, pair: dict[str, Any]
) -> None:
    response = await chat(client, pair["accessToken"], headers={"user-agent": "elsewhere"})
    assert response.status_code == 200


async def test_require_gives_the_handler_the_principal(
    settings_factory: Callable[..., Any], clock: FrozenClock
) -> None:
    """``require`` works on a user's own route added to the authgate app."""
    app = create_app(settings_factory(), clock=clock)
    seen: list[Principal] = []

    @app.get("/mine")
    async def mine(principal: Principal = Depends(require("use_agent"))) -> dict[str, str]:
        seen.append(principal)
        return {"id": principal.id}

    async with lifespan(app), client_for(app) as client:
        user = await register(client)
        pair = await login(client)
        response = await client.get("/mine", headers=bearer(pair["accessToken"]))
    assert response.json() == {"id": user["id"]}
    [principal] = seen
    assert principal.email == "ada@example.com"
    assert principal.roles == ("user",)
    assert principal.permissions == frozenset({"use_agent"})
    assert principal.session_id == pair["sessionId"]
    assert principal.has("use_agent")
    assert not principal.has("manage_agent")


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_openapi_docs_are_served(client: httpx.AsyncClient) -> None:
    assert (await client.get("/docs")).status_code == 200
    schema = (await client.get("/openapi.json")).json()
    assert {"/auth/login", "/auth/refresh", "/api/ai/chat", "/api/admin/users"} <= set(
        schema["paths"]
    )
