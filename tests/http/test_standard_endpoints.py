"""RFC 8414 metadata, RFC 7662 introspection and RFC 7009 revocation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import bearer, login, register


@pytest.fixture
async def resource_server(app: FastAPI) -> tuple[str, str]:
    created = await app.state.authgate.clients.create(
        name="tool server", kind="resource_server", scopes=["introspect"]
    )
    return created.client.client_id, created.secret


async def test_metadata_issuer_equals_configured_issuer_exactly(
    client: httpx.AsyncClient, settings: Any
) -> None:
    body = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert body["issuer"] == settings.metadata_issuer == "http://127.0.0.1:8000"
    assert body["jwks_uri"].endswith("/.well-known/jwks.json")
    assert body["introspection_endpoint"].endswith("/oauth2/introspect")
    assert body["revocation_endpoint"].endswith("/oauth2/revoke")
    assert "client_credentials" in body["grant_types_supported"]


async def test_metadata_issuer_follows_issuer_url_setting(
    settings_factory: Any, clock: Any
) -> None:
    from authgate.http.app import create_app
    from authgate.testing import client_for, lifespan

    app = create_app(settings_factory(issuer_url="https://auth.example.com/tenant-1"), clock=clock)
    async with lifespan(app), client_for(app) as c:
        body = (await c.get("/.well-known/oauth-authorization-server")).json()
    assert body["issuer"] == "https://auth.example.com/tenant-1"


async def introspect(
    client: httpx.AsyncClient, token: str, auth: tuple[str, str] | None, **extra: str
) -> httpx.Response:
    return await client.post("/oauth2/introspect", data={"token": token, **extra}, auth=auth)


async def test_introspection_requires_client_authentication(
    client: httpx.AsyncClient, resource_server: tuple[str, str]
) -> None:
    await register(client)
    pair = await login(client)
    for auth in (None, (resource_server[0], "wrong-secret"), ("unknown", resource_server[1])):
        response = await introspect(client, pair["accessToken"], auth)
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"
        assert "active" not in response.json()


async def test_introspection_of_a_live_access_token(
    client: httpx.AsyncClient, resource_server: tuple[str, str]
) -> None:
    await register(client)
    pair = await login(client)
    response = await introspect(client, pair["accessToken"], resource_server)
    body = response.json()
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert body["active"] is True
    assert body["scope"] == "use_agent"
    assert body["sid"] == pair["sessionId"]


async def test_introspection_with_client_secret_post(
    client: httpx.AsyncClient, resource_server: tuple[str, str]
) -> None:
    await register(client)
    pair = await login(client)
    client_id, secret = resource_server
    response = await introspect(
        client, pair["refreshToken"], None, client_id=client_id, client_secret=secret
    )
    assert response.json()["active"] is True
    assert response.json()["token_type"] == "refresh_token"


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("garbage", id="garbage"),
        pytest.param("a.b.c", id="three-junk-segments"),
        pytest.param("x" * 20000, id="oversized"),
    ],
)
async def test_introspection_of_invalid_tokens_is_only_inactive(
    client: httpx.AsyncClient, resource_server: tuple[str, str], token: str
) -> None:
    response = await introspect(client, token, resource_server)
    assert response.status_code == 200
    assert response.json() == {"active": False}


async def test_introspection_after_logout_and_rotation_is_inactive(
    client: httpx.AsyncClient, resource_server: tuple[str, str]
) -> None:
    await register(client)
    pair = await login(client)
    rotated = await client.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert (await introspect(client, pair["refreshToken"], resource_server)).json() == {
        "active": False
    }
    new = rotated.json()
    await client.post("/auth/logout", headers=bearer(new["accessToken"]))
    for token in (new["accessToken"], new["refreshToken"]):
        assert (await introspect(client, token, resource_server)).json() == {"active": False}


async def test_introspection_of_expired_token_is_inactive(
    client: httpx.AsyncClient, resource_server: tuple[str, str], clock: Any
) -> None:
    await register(client)
    pair = await login(client)
    clock.advance(16 * 60)
    assert (await introspect(client, pair["accessToken"], resource_server)).json() == {
        "active": False
    }


async def test_revoking_a_refresh_token_revokes_the_sessions_access_tokens(
    client: httpx.AsyncClient, resource_server: tuple[str, str]
) -> None:
    await register(client)
    pair = await login(client)
    response = await client.post(
        "/oauth2/revoke", data={"token": pair["refreshToken"]}, auth=resource_server
    )
    assert response.status_code == 200
    chat = await client.post(
        "/api/ai/chat", json={"message": "x"}, headers=bearer(pair["accessToken"])
    )
    assert chat.status_code == 401
    again = await client.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert again.status_code == 401


async def test_revoking_unknown_token_answers_200(
    client: httpx.AsyncClient, resource_server: tuple[str, str]
) -> None:
    response = await client.post("/oauth2/revoke", data={"token": "nope"}, auth=resource_server)
    assert response.status_code == 200


async def test_revocation_requires_client_authentication(client: httpx.AsyncClient) -> None:
    await register(client)
    pair = await login(client)
    response = await client.post("/oauth2/revoke", data={"token": pair["refreshToken"]})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    chat = await client.post(
        "/api/ai/chat", json={"message": "x"}, headers=bearer(pair["accessToken"])
    )
    assert chat.status_code == 200


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        pytest.param('{"token": "x"}', "application/json", id="json-body"),
        pytest.param("token=a&token=b", "application/x-www-form-urlencoded", id="repeated-param"),
        pytest.param("", "application/x-www-form-urlencoded", id="no-token"),
    ],
)
async def test_malformed_standard_requests_get_invalid_request(
    client: httpx.AsyncClient, resource_server: tuple[str, str], content: str, content_type: str
) -> None:
    response = await client.post(
        "/oauth2/introspect",
        content=content,
        headers={"content-type": content_type},
        auth=resource_server,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_metadata_issuer_is_the_token_issuer_when_that_is_a_url(
    settings_factory: Any, clock: Any
) -> None:
    """A verifier that takes the issuer from discovery must accept the tokens' iss."""
    from authgate.http.app import create_app
    from authgate.testing import client_for, lifespan

    app = create_app(settings_factory(jwt_issuer="https://auth.example.com"), clock=clock)
    async with lifespan(app), client_for(app) as c:
        body = (await c.get("/.well-known/oauth-authorization-server")).json()
    assert body["issuer"] == "https://auth.example.com"
