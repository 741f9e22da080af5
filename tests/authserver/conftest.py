"""An authgate app with a registered resource, a registered client and a signed-up user."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from authgate.testing import client_for
from tests.authserver.flow import PASSWORD, Browser, authorize_url, pkce_pair

RESOURCE = "https://mcp.example.com/mcp"
OTHER_RESOURCE = "https://other.example.com/api"
REDIRECT = "http://127.0.0.1:8765/callback"
EMAIL = "ada@example.com"


@dataclass
class Registered:
    client_id: str
    secret: str | None = None


@dataclass
class ResourceServer:
    url: str
    client_id: str
    secret: str

    @property
    def auth(self) -> tuple[str, str]:
        return (self.client_id, self.secret)


async def make_resource(app: FastAPI, url: str = RESOURCE, **kwargs: Any) -> ResourceServer:
    values: dict[str, Any] = {
        "name": "Notes MCP",
        "scopes": ["mcp:tools", "mcp:read"],
        "descriptions": {"mcp:tools": "Call the notes tools", "mcp:read": "Read your notes"},
    }
    values.update(kwargs)
    made = await app.state.authgate.authserver.resources.create(url=url, **values)
    return ResourceServer(url, made.resource.client_id, made.secret)


async def register_client(
    client: httpx.AsyncClient, *, redirect_uris: list[str] | None = None, **metadata: Any
) -> Registered:
    body = {
        "client_name": "Claude-ish",
        "redirect_uris": redirect_uris or [REDIRECT],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        **metadata,
    }
    response = await client.post("/oauth2/register", json=body)
    assert response.status_code == 201, response.text
    data = response.json()
    return Registered(data["client_id"], data.get("client_secret"))


@pytest.fixture
async def resource(app: FastAPI) -> ResourceServer:
    return await make_resource(app)


@pytest.fixture
async def registered(client: httpx.AsyncClient) -> Registered:
    return await register_client(client)


@pytest.fixture
async def user(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post("/auth/register", json={"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return dict(response.json()["user"])


@pytest.fixture
async def browser(app: FastAPI, user: dict[str, Any]) -> AsyncIterator[Browser]:
    async with client_for(app, headers={"user-agent": "Mozilla/5.0 test"}) as c:
        yield Browser(c, email=EMAIL)


@dataclass
class Pending:
    """An authorization request and the verifier that goes with it."""

    url: str
    verifier: str
    params: dict[str, str]


def request_for(registered: Registered, resource: str = RESOURCE, **overrides: str) -> Pending:
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": registered.client_id,
        "redirect_uri": REDIRECT,
        "state": "xyz-state",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "resource": resource,
        "scope": "mcp:tools mcp:read",
        **overrides,
    }
    params = {k: v for k, v in params.items() if v != "<omit>"}
    return Pending(authorize_url(**params), verifier, params)


async def exchange(
    client: httpx.AsyncClient, registered: Registered, code: str, verifier: str, **extra: str
) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
        "client_id": registered.client_id,
        "resource": RESOURCE,
        **extra,
    }
    data = {k: v for k, v in data.items() if v != "<omit>"}
    return await client.post("/oauth2/token", data=data)


async def grant(
    client: httpx.AsyncClient, browser: Browser, registered: Registered, **overrides: str
) -> dict[str, Any]:
    """Authorize (signing in and consenting as needed) and exchange the code: the tokens."""
    pending = request_for(registered, **overrides)
    outcome = await browser.authorize(pending.url)
    response = await exchange(client, registered, outcome.code, pending.verifier)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def introspect(
    client: httpx.AsyncClient, server: ResourceServer, token: str
) -> dict[str, Any]:
    response = await client.post("/oauth2/introspect", data={"token": token}, auth=server.auth)
    assert response.status_code == 200, response.text
    return dict(response.json())
