"""The consent page of the authorization server in Chromium, phone width included."""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import ContextFactory
from tests.browser.live import PASSWORD, LiveServer
from tests.browser.test_pages import scroll_width, sign_up
from tests.processes import free_port

RESOURCE = "https://notes.example.com/mcp"
VERIFIER = "v" * 50


@pytest.fixture
def callback() -> str:
    return f"http://127.0.0.1:{free_port()}/callback"


@pytest.fixture
def client_id(server: LiveServer, callback: str) -> str:
    server.call(
        server.runtime.authserver.resources.create(
            name="Notes MCP",
            url=RESOURCE,
            scopes=["notes:read", "notes:write"],
            descriptions={"notes:read": "Read your notes", "notes:write": "Change your notes"},
        )
    )
    registered = httpx.post(
        f"{server.url}/oauth2/register",
        json={"client_name": "Pocket Assistant", "redirect_uris": [callback],
              "token_endpoint_auth_method": "none",
              "grant_types": ["authorization_code", "refresh_token"]},
        timeout=10,
    )  # fmt: skip
    assert registered.status_code == 201, registered.text
    return str(registered.json()["client_id"])


def _authorize_url(client_id: str, callback: str) -> str:
    challenge = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest())
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": callback,
        "state": "s-123",
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
        "resource": RESOURCE,
        "scope": "notes:read notes:write",
    }
    return f"/oauth2/authorize?{urlencode(query)}"


def _catch_callback(page: Page, callback: str) -> None:
    def answer(route: Route) -> None:
        route.fulfill(status=200, body="back in the app", content_type="text/plain")

    page.route(re.compile(re.escape(callback) + r".*"), answer)


def _sign_in_from(page: Page) -> None:
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_consent_on_a_phone_then_allow_returns_a_code(
    new_context: ContextFactory, server: LiveServer, client_id: str, callback: str
) -> None:
    page = new_context(viewport={"width": 375, "height": 740}).new_page()
    sign_up(page)
    page.context.clear_cookies()
    _catch_callback(page, callback)
    page.goto(_authorize_url(client_id, callback))
    _sign_in_from(page)
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text("Allow Pocket Assistant to use your account?")
    expect(page.locator("#unverified")).to_have_text("Unverified application")
    expect(page.locator(".scopes")).to_contain_text("Read your notes")
    expect(page.locator(".scopes")).to_contain_text("Change your notes")
    expect(page.locator(".redirect-host")).to_contain_text("127.0.0.1")
    expect(page.locator(".resource-url")).to_have_text(RESOURCE)
    assert scroll_width(page) <= 375
    page.get_by_role("button", name="Allow").click()
    expect(page).to_have_url(re.compile(re.escape(callback) + r"\?code="))
    params = parse_qs(urlsplit(page.url).query)
    assert params["state"] == ["s-123"]
    assert params["iss"] == [server.runtime.settings.metadata_issuer]


def test_deny_returns_access_denied(
    page: Page, server: LiveServer, client_id: str, callback: str
) -> None:
    sign_up(page)
    _catch_callback(page, callback)
    page.goto(_authorize_url(client_id, callback))
    page.get_by_role("button", name="Deny").click()
    expect(page).to_have_url(re.compile(re.escape(callback) + r"\?error=access_denied"))


def test_app_is_listed_and_revoked_on_the_account_page(
    page: Page, server: LiveServer, client_id: str, callback: str
) -> None:
    sign_up(page)
    _catch_callback(page, callback)
    page.goto(_authorize_url(client_id, callback))
    page.get_by_role("button", name="Allow").click()
    expect(page).to_have_url(re.compile(re.escape(callback) + r"\?code="))
    code = parse_qs(urlsplit(page.url).query)["code"][0]
    tokens = httpx.post(
        f"{server.url}/oauth2/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": callback,
              "code_verifier": VERIFIER, "client_id": client_id},
        timeout=10,
    )  # fmt: skip
    assert tokens.status_code == 200, tokens.text
    page.goto("/account")
    apps = page.get_by_role("region", name="Apps with access")
    expect(apps.locator(".device")).to_have_text("Pocket Assistant")
    expect(apps).to_contain_text("notes:read, notes:write")
    page.set_viewport_size({"width": 375, "height": 740})
    assert scroll_width(page) <= 375
    apps.get_by_role("button", name="Revoke access of Pocket Assistant").click()
    expect(page.get_by_role("status")).to_have_text("The application's access has been revoked.")
    expect(apps).to_contain_text("No application has access.")
    refreshed = httpx.post(
        f"{server.url}/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens.json()["refresh_token"],
              "client_id": client_id},
        timeout=10,
    )  # fmt: skip
    assert refreshed.status_code == 400
