"""The user's view: /account lists "Apps with access" and revokes them at once."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.authserver.conftest import Registered, ResourceServer, grant, introspect
from tests.authserver.flow import Browser, csrf_of


async def _apps_section(browser: Browser) -> str:
    page = await browser.client.get("/account")
    assert page.status_code == 200
    match = re.search(
        r'<section class="card" aria-labelledby="apps-title">.*?</section>', page.text, re.S
    )
    assert match is not None
    return match.group(0)


async def test_account_lists_the_app_its_resource_and_scopes(
    client: httpx.AsyncClient, browser: Browser, resource: ResourceServer, registered: Registered
) -> None:
    await grant(client, browser, registered, scope="mcp:read")
    section = await _apps_section(browser)
    assert "Claude-ish" in section
    assert "Notes MCP" in section
    assert "https://mcp.example.com/mcp" in section
    assert "mcp:read" in section
    assert "Last used" in section


async def test_revoke_ends_the_apps_tokens_at_once(
    client: httpx.AsyncClient, browser: Browser, resource: ResourceServer, registered: Registered
) -> None:
    tokens = await grant(client, browser, registered)
    page = await browser.client.get("/account")
    grant_id = re.search(r'data-grant-id="([^"]+)"', page.text)
    assert grant_id is not None
    response = await browser.client.post(
        "/account/apps/revoke",
        data={"csrf_token": csrf_of(page.text), "grant": grant_id.group(1)},
        headers={"Origin": browser.origin},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/account?notice=app_revoked"
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
    assert "No application has access." in await _apps_section(browser)


async def test_revoke_without_csrf_token_is_refused(
    client: httpx.AsyncClient, browser: Browser, resource: ResourceServer, registered: Registered
) -> None:
    tokens = await grant(client, browser, registered)
    page = await browser.client.get("/account")
    grant_id = re.search(r'data-grant-id="([^"]+)"', page.text)
    assert grant_id is not None
    response = await browser.client.post(
        "/account/apps/revoke",
        data={"grant": grant_id.group(1)},
        headers={"Origin": browser.origin},
    )
    assert response.status_code == 403
    assert (await introspect(client, resource, tokens["access_token"]))["active"] is True


async def test_logout_everywhere_ends_app_grants_too(
    client: httpx.AsyncClient, browser: Browser, resource: ResourceServer, registered: Registered
) -> None:
    tokens = await grant(client, browser, registered)
    page = await browser.client.get("/account")
    response = await browser.client.post(
        "/account/sessions/revoke-all",
        data={"csrf_token": csrf_of(page.text)},
        headers={"Origin": browser.origin},
    )
    assert response.status_code == 303
    assert (await introspect(client, resource, tokens["access_token"])) == {"active": False}


async def test_someone_elses_grant_cannot_be_revoked(
    client: httpx.AsyncClient,
    browser: Browser,
    resource: ResourceServer,
    registered: Registered,
    app: Any,
) -> None:
    tokens = await grant(client, browser, registered)
    claims_sid = (await introspect(client, resource, tokens["access_token"]))["sid"]
    from authgate.testing import client_for

    async with client_for(app) as other:
        await other.post(
            "/auth/register",
            json={"email": "eve@example.com", "password": "correct horse battery staple"},
        )
        mallory = Browser(other, email="eve@example.com")
        login = await other.get("/login")
        await other.post(
            "/login",
            data={
                "csrf_token": csrf_of(login.text),
                "email": "eve@example.com",
                "password": "correct horse battery staple",
                "next": "/account",
            },
            headers={"Origin": mallory.origin},
        )
        page = await other.get("/account")
        response = await other.post(
            "/account/apps/revoke",
            data={"csrf_token": csrf_of(page.text), "grant": claims_sid},
            headers={"Origin": mallory.origin},
        )
    assert response.headers["location"] == "/account?notice=already_ended"
    assert (await introspect(client, resource, tokens["access_token"]))["active"] is True


async def test_audit_events_and_metrics(
    app: Any,
    client: httpx.AsyncClient,
    browser: Browser,
    resource: ResourceServer,
    registered: Registered,
) -> None:
    """Authorize, consent, denial, registration and code reuse are audited and counted."""
    from tests.authserver.conftest import exchange, request_for

    await browser.authorize(request_for(registered, scope="mcp:read").url, decision="deny")
    pending = request_for(registered)
    outcome = await browser.authorize(pending.url)
    await exchange(client, registered, outcome.code, pending.verifier)
    await exchange(client, registered, outcome.code, pending.verifier)
    events = {e.event for e in await app.state.authgate.store.recent_audit(limit=100)}
    assert {
        "authserver.client_registered",
        "authserver.consent_denied",
        "authserver.consent",
        "authserver.authorize",
        "authserver.grant",
        "authserver.code_reused",
    } <= events
    exposition = (await client.get("/metrics")).text
    assert 'authgate_authserver_events_total{event="code_reused"} 1.0' in exposition
    assert pending.verifier not in str(
        [e.detail for e in await app.state.authgate.store.recent_audit(limit=100)]
    )
