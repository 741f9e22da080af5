"""The authorization code flow end to end in process (RFC 6749 s4.1, RFC 7636, RFC 8707)."""

from __future__ import annotations

import httpx
import jwt

from tests.authserver.conftest import (
    RESOURCE,
    Registered,
    ResourceServer,
    exchange,
    request_for,
)
from tests.authserver.flow import Browser


async def test_sign_in_consent_code_token_and_introspection(
    client: httpx.AsyncClient, browser: Browser, resource: ResourceServer, registered: Registered
) -> None:
    pending = request_for(registered)
    outcome = await browser.authorize(pending.url)
    assert outcome.pages == ["/login", "consent"]
    assert outcome.params["state"] == "xyz-state"
    assert outcome.params["iss"] == "http://127.0.0.1:8000"
    response = await exchange(client, registered, outcome.code, pending.verifier)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "mcp:read mcp:tools"
    header = jwt.get_unverified_header(body["access_token"])
    assert header["typ"] == "at+jwt"
    assert "kid" in header
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["aud"] == RESOURCE
    assert claims["client_id"] == registered.client_id
    intro = await client.post(
        "/oauth2/introspect", data={"token": body["access_token"]}, auth=resource.auth
    )
    info = intro.json()
    assert info["active"] is True
    assert info["aud"] == RESOURCE
    assert info["client_id"] == registered.client_id
    assert info["scope"] == "mcp:read mcp:tools"
    assert info["sub"] == claims["sub"]
    assert info["exp"] == claims["exp"]


async def test_refresh_rotates_and_keeps_the_resource(
    client: httpx.AsyncClient, browser: Browser, resource: ResourceServer, registered: Registered
) -> None:
    pending = request_for(registered)
    outcome = await browser.authorize(pending.url)
    first = (await exchange(client, registered, outcome.code, pending.verifier)).json()
    response = await client.post(
        "/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "client_id": registered.client_id,
        },
    )
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    claims = jwt.decode(second["access_token"], options={"verify_signature": False})
    assert claims["aud"] == RESOURCE


async def test_a_request_too_long_to_come_back_to_is_refused_not_lost(
    browser: Browser, resource: ResourceServer, registered: Registered
) -> None:
    """Rather than lose the request at /login (its `next` is bounded), say so to the client."""
    outcome = await browser.authorize(request_for(registered, state="s" * 1900).url)
    assert outcome.params["error"] == "invalid_request"
