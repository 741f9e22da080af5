"""Consent: remembered per (user, client, resource, scopes), step-up, prompt, deny, page."""

from __future__ import annotations

import httpx

from tests.authserver.conftest import REDIRECT, Registered, ResourceServer, request_for
from tests.authserver.flow import Browser


async def test_consent_is_remembered(
    browser: Browser, resource: ResourceServer, registered: Registered
) -> None:
    first = await browser.authorize(request_for(registered).url)
    second = await browser.authorize(request_for(registered).url)
    assert first.pages == ["/login", "consent"]
    assert second.pages == []
    assert "code" in second.params


async def test_step_up_asks_only_for_the_new_scope(
    browser: Browser, resource: ResourceServer, registered: Registered
) -> None:
    await browser.authorize(request_for(registered, scope="mcp:read").url)
    page = await browser.client.get(request_for(registered, scope="mcp:read mcp:tools").url)
    assert page.status_code == 200
    assert 'data-scope="mcp:tools"' in page.text
    assert 'data-scope="mcp:read"' not in page.text
    assert "You allowed before: mcp:read" in page.text


async def test_prompt_consent_asks_again(
    browser: Browser, resource: ResourceServer, registered: Registered
) -> None:
    await browser.authorize(request_for(registered).url)
    again = await browser.authorize(request_for(registered, prompt="consent").url)
    assert again.pages == ["consent"]


async def test_deny_returns_access_denied_with_state_and_iss(
    browser: Browser, resource: ResourceServer, registered: Registered
) -> None:
    outcome = await browser.authorize(request_for(registered).url, decision="deny")
    assert outcome.location.startswith(REDIRECT + "?")
    assert outcome.params == {
        "error": "access_denied",
        "state": "xyz-state",
        "iss": "http://127.0.0.1:8000",
    }


async def test_consent_page_names_client_resource_scopes_and_cannot_be_framed(
    client: httpx.AsyncClient, browser: Browser, resource: ResourceServer
) -> None:
    registered = await _self_registered(client)
    await browser.authorize(request_for(registered, scope="mcp:read").url, decision="deny")
    page = await browser.client.get(request_for(registered).url)
    assert page.status_code == 200
    assert "Claude-ish" in page.text
    assert "Unverified application" in page.text
    assert "Notes MCP" in page.text
    assert "https://mcp.example.com/mcp" in page.text
    assert "127.0.0.1:8765" in page.text
    assert "Call the notes tools" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"


async def test_authorization_request_by_post_works_too(
    browser: Browser, resource: ResourceServer, registered: Registered
) -> None:
    """RFC 6749 s3.1: the authorization endpoint accepts POST."""
    await browser.authorize(request_for(registered).url)
    pending = request_for(registered)
    response = await browser.client.post("/oauth2/authorize", data=pending.params)
    assert response.status_code == 303
    assert response.headers["location"].startswith(REDIRECT + "?code=")


async def _self_registered(client: httpx.AsyncClient) -> Registered:
    from tests.authserver.conftest import register_client

    return await register_client(client)
