"""Attacks on the authorization server, one test each (RFC 9700 s4, RFC 6749 s10)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from authgate.testing import FrozenClock
from tests.authserver.conftest import (
    OTHER_RESOURCE,
    REDIRECT,
    RESOURCE,
    Registered,
    ResourceServer,
    exchange,
    grant,
    introspect,
    make_resource,
    register_client,
    request_for,
)
from tests.authserver.flow import Browser, csrf_of

ISSUER = "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    "redirect_uri",
    [
        pytest.param(REDIRECT + "x", id="prefix-longer-path"),
        pytest.param(REDIRECT[: -len("back")], id="prefix-shorter"),
        pytest.param(REDIRECT.replace("callback", "Callback"), id="case"),
        pytest.param(REDIRECT + "/", id="trailing-slash"),
        pytest.param(REDIRECT + "?next=https://evil.example", id="extra-query"),
        pytest.param(REDIRECT + "#frag", id="fragment"),
        pytest.param("https://evil.example/callback", id="other-host"),
        pytest.param(REDIRECT.replace("127.0.0.1", "localhost"), id="other-loopback-name"),
        pytest.param("http://127.0.0.1:8765@evil.example/callback", id="userinfo"),
        pytest.param("https://127.0.0.1:8765/callback", id="other-scheme"),
    ],
)
async def test_unregistered_redirect_uri_gets_a_page_never_a_redirect(
    browser: Browser, resource: ResourceServer, registered: Registered, redirect_uri: str
) -> None:
    """RFC 6749 s4.1.2.1, RFC 9700 s4.1.3: exact match, checked before any redirect."""
    pending = request_for(registered, redirect_uri=redirect_uri)
    response = await browser.client.get(pending.url)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "not registered" in response.text


async def test_loopback_redirect_may_change_only_its_port(
    browser: Browser, resource: ResourceServer, registered: Registered
) -> None:
    """RFC 8252 s7.3: the port of a loopback redirect URI is chosen at run time."""
    moved = REDIRECT.replace(":8765", ":9999")
    outcome = await browser.authorize(request_for(registered, redirect_uri=moved).url)
    assert outcome.location.startswith(moved + "?")
    assert "code" in outcome.params


async def test_unknown_client_gets_a_page(browser: Browser, resource: ResourceServer) -> None:
    pending = request_for(Registered("app_nobody"))
    response = await browser.client.get(pending.url)
    assert response.status_code == 400
    assert "location" not in response.headers


async def test_code_replay_is_refused_and_revokes_the_first_grant(
    client: httpx.AsyncClient, browser: Browser, resource: ResourceServer, registered: Registered
) -> None:
    """RFC 6749 s4.1.2: single use; a second use revokes what the first issued."""
    pending = request_for(registered)
    outcome = await browser.authorize(pending.url)
    first = await exchange(client, registered, outcome.code, pending.verifier)
    assert first.status_code == 200
    tokens = first.json()
    replay = await exchange(client, registered, outcome.code, pending.verifier)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert (await introspect(client, resource, tokens["access_token"])) == {"active": False}
    refreshed = await client.post(
        "/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": registered.client_id,
        },
    )
    assert refreshed.status_code == 400


async def test_expired_code_is_refused(
    client: httpx.AsyncClient,
    browser: Browser,
    resource: ResourceServer,
    registered: Registered,
    clock: FrozenClock,
) -> None:
    pending = request_for(registered)
    outcome = await browser.authorize(pending.url)
    clock.advance(61)  # codes live at most 60 s
    response = await exchange(client, registered, outcome.code, pending.verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"code_challenge": "<omit>", "code_challenge_method": "<omit>"}, id="missing"),
        pytest.param({"code_challenge_method": "<omit>"}, id="method-missing-means-plain"),
        pytest.param({"code_challenge_method": "plain"}, id="plain"),
        pytest.param({"code_challenge": "short"}, id="malformed-challenge"),
    ],
)
async def test_authorization_without_s256_pkce_is_refused(
    browser: Browser, resource: ResourceServer, registered: Registered, overrides: dict[str, str]
) -> None:
    """RFC 7636 s4.3, RFC 9700 s2.1.1: PKCE with S256 for every client."""
    outcome = await browser.authorize(request_for(registered, **overrides).url)
    assert outcome.params["error"] == "invalid_request"
    assert outcome.params["iss"] == ISSUER  # RFC 9207: on errors too
    assert outcome.params["state"] == "xyz-state"
    assert "code" not in outcome.params


async def test_wrong_code_verifier_is_refused_and_burns_the_code(
    client: httpx.AsyncClient, browser: Browser, resource: ResourceServer, registered: Registered
) -> None:
    """RFC 7636 s4.6; and no second guess with the same code."""
    pending = request_for(registered)
    outcome = await browser.authorize(pending.url)
    wrong = await exchange(client, registered, outcome.code, "w" * 43)
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    right = await exchange(client, registered, outcome.code, pending.verifier)
    assert right.status_code == 400


async def test_missing_code_verifier_is_refused(
    client: httpx.AsyncClient, browser: Browser, resource: ResourceServer, registered: Registered
) -> None:
    pending = request_for(registered)
    outcome = await browser.authorize(pending.url)
    response = await exchange(client, registered, outcome.code, "<omit>")
    assert response.status_code == 400


async def test_missing_state_is_refused(
    browser: Browser, resource: ResourceServer, registered: Registered
) -> None:
    """authgate requires state (RFC 9700 s2.1 CSRF defence), answered with iss."""
    outcome = await browser.authorize(request_for(registered, state="<omit>").url)
    assert outcome.params["error"] == "invalid_request"
    assert outcome.params["iss"] == ISSUER
    assert "code" not in outcome.params


async def test_implicit_grant_is_refused(
    browser: Browser, resource: ResourceServer, registered: Registered
) -> None:
    """OAuth 2.1 s4.1.1: response_type=code only."""
    outcome = await browser.authorize(request_for(registered, response_type="token").url)
    assert outcome.params["error"] == "unsupported_response_type"
    assert "access_token" not in outcome.location


@pytest.mark.parametrize(
    "resource_value",
    [
        pytest.param("<omit>", id="missing"),
        pytest.param("https://unknown.example/mcp", id="unregistered"),
        pytest.param(RESOURCE + "/", id="trailing-slash"),
        pytest.param(RESOURCE.upper(), id="case"),
    ],
)
async def test_resource_must_name_a_registered_resource_exactly(
    browser: Browser, resource: ResourceServer, registered: Registered, resource_value: str
) -> None:
    """RFC 8707 s2: invalid_target."""
    outcome = await browser.authorize(request_for(registered, resource=resource_value).url)
    assert outcome.params["error"] == "invalid_target"


async def test_token_for_resource_a_is_inactive_at_resource_b(
    app: FastAPI,
    client: httpx.AsyncClient,
    browser: Browser,
    resource: ResourceServer,
    registered: Registered,
) -> None:
    other = await make_resource(app, OTHER_RESOURCE)
    tokens = await grant(client, browser, registered)
    assert (await introspect(client, resource, tokens["access_token"]))["active"] is True
    assert (await introspect(client, other, tokens["access_token"])) == {"active": False}


async def test_code_for_resource_a_cannot_be_redeemed_for_resource_b(
    app: FastAPI,
    client: httpx.AsyncClient,
    browser: Browser,
    resource: ResourceServer,
    registered: Registered,
) -> None:
    await make_resource(app, OTHER_RESOURCE)
    pending = request_for(registered)
    outcome = await browser.authorize(pending.url)
    response = await exchange(
        client, registered, outcome.code, pending.verifier, resource=OTHER_RESOURCE
    )
    assert response.json()["error"] == "invalid_target"


async def test_authgate_own_token_is_inactive_at_a_resource(
    client: httpx.AsyncClient, resource: ResourceServer, user: dict[str, Any]
) -> None:
    login = await client.post(
        "/auth/login", json={"email": "ada@example.com", "password": "correct horse battery staple"}
    )
    own = login.json()["accessToken"]
    assert (await introspect(client, resource, own)) == {"active": False}


async def test_resource_token_never_opens_authgate_api(
    client: httpx.AsyncClient, browser: Browser, resource: ResourceServer, registered: Registered
) -> None:
    tokens = await grant(client, browser, registered)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await client.get("/auth/me", headers=headers)).status_code == 401
    chat = await client.post("/api/ai/chat", json={"message": "hi"}, headers=headers)
    assert chat.status_code == 401


async def test_scope_beyond_the_resource_is_not_granted(
    client: httpx.AsyncClient, browser: Browser, resource: ResourceServer, registered: Registered
) -> None:
    """RFC 6749 s3.3: the server may narrow; a token never carries a scope it does not define."""
    tokens = await grant(client, browser, registered, scope="mcp:read admin use_agent")
    assert tokens["scope"] == "mcp:read"


async def test_only_undefined_scopes_is_invalid_scope(
    browser: Browser, resource: ResourceServer, registered: Registered
) -> None:
    outcome = await browser.authorize(request_for(registered, scope="admin").url)
    assert outcome.params["error"] == "invalid_scope"


async def test_scope_beyond_the_user_is_not_granted(
    app: FastAPI, client: httpx.AsyncClient, browser: Browser, registered: Registered
) -> None:
    """A scope the resource restricts to a permission the user lacks is never granted."""
    await make_resource(app, require_permission=["mcp:tools"])
    tokens = await grant(client, browser, registered)
    assert tokens["scope"] == "mcp:read"


async def test_scope_beyond_the_consent_needs_consent(
    browser: Browser, resource: ResourceServer, registered: Registered
) -> None:
    """Consent for mcp:read does not cover mcp:tools: prompt=none says consent_required."""
    await browser.authorize(request_for(registered, scope="mcp:read").url)
    outcome = await browser.authorize(
        request_for(registered, scope="mcp:read mcp:tools", prompt="none").url
    )
    assert outcome.params["error"] == "consent_required"
    assert outcome.pages == []


async def test_refresh_cannot_widen_the_scope(
    client: httpx.AsyncClient, browser: Browser, resource: ResourceServer, registered: Registered
) -> None:
    """RFC 6749 s6: the scope of a refresh never exceeds the original grant."""
    tokens = await grant(client, browser, registered, scope="mcp:read")
    response = await client.post(
        "/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": registered.client_id,
            "scope": "mcp:read mcp:tools",
        },
    )
    assert response.json()["error"] == "invalid_scope"


async def test_another_clients_code_is_refused(
    client: httpx.AsyncClient, browser: Browser, resource: ResourceServer, registered: Registered
) -> None:
    """RFC 6749 s4.1.3: the code is bound to the client it was issued to."""
    thief = await register_client(client)
    pending = request_for(registered)
    outcome = await browser.authorize(pending.url)
    stolen = await exchange(
        client, thief, outcome.code, pending.verifier, client_id=thief.client_id
    )
    assert stolen.json()["error"] == "invalid_grant"
    honest = await exchange(client, registered, outcome.code, pending.verifier)
    assert honest.status_code == 200


async def test_another_clients_refresh_token_is_refused(
    client: httpx.AsyncClient, browser: Browser, resource: ResourceServer, registered: Registered
) -> None:
    thief = await register_client(client)
    tokens = await grant(client, browser, registered)
    response = await client.post(
        "/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": thief.client_id,
        },
    )
    assert response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("token", "origin"),
    [
        pytest.param(False, "http://testserver", id="no-csrf-token"),
        pytest.param(True, "https://evil.example", id="cross-site-origin"),
        pytest.param(True, "null", id="null-origin"),
    ],
)
async def test_consent_csrf_is_refused(
    browser: Browser, resource: ResourceServer, registered: Registered, token: bool, origin: str
) -> None:
    """OWASP ASVS V3.5: the Allow button cannot be pressed from another site."""
    pending = request_for(registered)
    # Signed in (the first request signs in, and its consent is denied).
    await browser.authorize(request_for(registered, scope="mcp:read").url, decision="deny")
    page = await browser.client.get(pending.url)
    assert 'action="/oauth2/consent"' in page.text
    data = {"request": pending.url.split("?", 1)[1], "decision": "allow"}
    if token:
        data["csrf_token"] = csrf_of(page.text)
    response = await browser.client.post("/oauth2/consent", data=data, headers={"Origin": origin})
    assert response.status_code == 403
    assert "location" not in response.headers


async def test_client_with_credentials_cannot_pose_as_public(
    client: httpx.AsyncClient, browser: Browser, resource: ResourceServer
) -> None:
    """A confidential client must authenticate; its code is useless without its secret."""
    confidential = await register_client(client, token_endpoint_auth_method="client_secret_basic")
    assert confidential.secret
    pending = request_for(confidential)
    outcome = await browser.authorize(pending.url)
    bare = await exchange(client, confidential, outcome.code, pending.verifier)
    assert bare.status_code == 401
    response = await client.post(
        "/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": outcome.code,
            "redirect_uri": REDIRECT,
            "code_verifier": pending.verifier,
        },
        auth=(confidential.client_id, confidential.secret),
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "prompt_case",
    [pytest.param("signed-out", id="signed-out"), pytest.param("no-consent", id="no-consent")],
)
async def test_prompt_none_never_shows_a_page(
    app: FastAPI,
    browser: Browser,
    resource: ResourceServer,
    registered: Registered,
    prompt_case: str,
) -> None:
    """OIDC Core s3.1.2.1: login_required / consent_required, straight back to the client."""
    if prompt_case == "no-consent":
        await browser.authorize(request_for(registered, scope="mcp:read").url, decision="deny")
    response = await browser.client.get(request_for(registered, prompt="none").url)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    expected = "login_required" if prompt_case == "signed-out" else "consent_required"
    assert f"error={expected}" in location
    assert "iss=" in location
