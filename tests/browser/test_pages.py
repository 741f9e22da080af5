"""The sign-in and account pages, driven in Chromium over real HTTP."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from authgate.keys.encryption import generate_kek
from tests.browser.conftest import ContextFactory
from tests.browser.live import PASSWORD, LiveServer

FIREFOX_ON_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
)


def sign_up(page: Page, email: str = "ada@example.com") -> None:
    page.goto("/register")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Name").fill("Ada Lovelace")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/account$"))


def sign_in(page: Page, email: str = "ada@example.com", password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def sessions(page: Page) -> Any:
    return page.locator("ul.sessions > li")


def scroll_width(page: Page) -> int:
    page.wait_for_load_state("load")  # the stylesheet applied
    width: int = page.evaluate("document.documentElement.scrollWidth")
    return width


def cookie(context: BrowserContext, name: str) -> str | None:
    return next((c["value"] for c in context.cookies() if c["name"] == name), None)


def test_sign_up_lands_on_account_with_this_device_listed(page: Page) -> None:
    sign_up(page)
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    profile = page.get_by_role("region", name="Profile")
    expect(profile).to_contain_text("ada@example.com")
    expect(profile).to_contain_text("Ada Lovelace")
    expect(sessions(page)).to_have_count(1)
    current = sessions(page).first
    expect(current.locator(".badge")).to_have_text("This device")
    expect(current.locator(".device")).to_have_text(re.compile(r"Chrome \d+ on Linux"))
    expect(current).to_contain_text("127.0.0.1")


def test_sign_in_redirects_back_to_the_page_asked_for(page: Page) -> None:
    sign_up(page)
    page.context.clear_cookies()
    page.goto("/account")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Faccount$"))
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/account$"))


def test_revoked_second_device_is_signed_out_on_its_next_request(
    new_context: ContextFactory,
) -> None:
    first = new_context().new_page()
    sign_up(first)
    second = new_context(user_agent=FIREFOX_ON_WINDOWS).new_page()
    sign_in(second)
    expect(second).to_have_url(re.compile(r"/account$"))

    first.reload()
    expect(sessions(first)).to_have_count(2)
    other = sessions(first).filter(has_text="Firefox 128 on Windows")
    expect(other).to_have_count(1)
    expect(other.locator(".badge")).to_have_count(0)
    other.get_by_role("button", name=re.compile("^Sign out")).click()
    expect(first.get_by_role("status")).to_have_text("That session has been signed out.")
    expect(sessions(first)).to_have_count(1)

    second.reload()
    expect(second).to_have_url(re.compile(r"/login\?next=%2Faccount&notice=session_ended$"))
    expect(second.get_by_role("status")).to_have_text(
        "Your session has ended. Please sign in again."
    )
    assert cookie(second.context, "access_token") is None
    assert cookie(second.context, "refresh_token") is None


def test_sign_out_everywhere_ends_every_session(new_context: ContextFactory) -> None:
    first = new_context().new_page()
    sign_up(first)
    second = new_context().new_page()
    sign_in(second)
    first.reload()
    first.get_by_role("button", name="Sign out everywhere").click()
    expect(first.get_by_role("status")).to_have_text("You have signed out on every device.")
    second.reload()
    expect(second).to_have_url(re.compile(r"/login\?"))


def test_header_sign_out_ends_this_session(page: Page, server: LiveServer) -> None:
    sign_up(page)
    page.locator("header").get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You have signed out.")
    page.goto("/account")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Faccount$"))


@pytest.mark.parametrize(
    "email", [pytest.param("ada@example.com", id="wrong-password"), "nobody@example.com"]
)
def test_wrong_credentials_show_one_message_inline(page: Page, email: str) -> None:
    sign_up(page)
    page.context.clear_cookies()
    sign_in(page, email, "not the password at all")
    alert = page.get_by_role("alert")
    expect(alert).to_have_text("Invalid email or password")
    expect(page.get_by_label("Email")).to_have_value(email)
    expect(page.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Password")).to_have_value("")


def test_expired_access_cookie_is_refreshed_transparently(page: Page, server: LiveServer) -> None:
    sign_up(page)
    before = cookie(page.context, "refresh_token")
    server.clock.advance(server.runtime.settings.access_token_ttl + 60)
    page.reload()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    assert cookie(page.context, "refresh_token") not in (None, before)
    expect(sessions(page)).to_have_count(1)


def test_access_cookie_dropped_by_the_browser_is_refreshed(page: Page) -> None:
    sign_up(page)
    page.context.clear_cookies(name="access_token")
    page.reload()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    assert cookie(page.context, "access_token") is not None


def test_keyboard_order_on_sign_in(page: Page) -> None:
    page.goto("/login")
    order = []
    for _ in range(5):
        page.keyboard.press("Tab")
        order.append(
            page.evaluate("document.activeElement.textContent.trim() || document.activeElement.id")
        )
    assert order == ["Skip to content", "authgate", "email", "password", "Sign in"]


@pytest.mark.parametrize("path", ["/login", "/register", "/auth/error?reason=access_denied"])
def test_pages_fit_a_phone_screen(new_context: ContextFactory, path: str) -> None:
    page = new_context(viewport={"width": 375, "height": 740}).new_page()
    page.goto(path)
    assert scroll_width(page) <= 375


def test_account_fits_a_phone_screen(new_context: ContextFactory) -> None:
    page = new_context(viewport={"width": 375, "height": 740}).new_page()
    sign_up(page, "a.very.long.address.for.testing@subdomain.example.com")
    assert scroll_width(page) <= 375


def test_oauth_error_page_explains_and_links_back(page: Page) -> None:
    page.goto("/auth/error?reason=access_denied&provider=<b>evil</b>")
    expect(page.get_by_role("heading", level=1)).to_have_text("You are not signed in")
    expect(page.get_by_role("alert")).to_contain_text("cancelled or refused")
    expect(page.get_by_role("alert")).not_to_contain_text("evil")
    page.get_by_role("link", name="Back to sign in").click()
    expect(page).to_have_url(re.compile(r"/login$"))


def test_agent_access_is_revoked_from_the_account_page(page: Page, server: LiveServer) -> None:
    sign_up(page)
    runtime = server.runtime
    user = server.call(runtime.store.user_by_email("ada@example.com"))
    assert user is not None
    created = server.call(
        runtime.clients.create(
            name="research bot", kind="agent", scopes=["use_agent"], owner_user_id=user.id
        )
    )
    agent = (created.client.client_id, created.secret)
    user_token = cookie(page.context, "access_token") or ""
    consent = {"clientId": agent[0], "scopes": ["use_agent"]}
    consented = httpx.post(
        f"{server.url}/auth/delegations",
        json=consent,
        headers={"Authorization": f"Bearer {user_token}"},
        timeout=10,
    )
    assert consented.status_code == 201, consented.text
    exchange = {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": user_token,
        "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
    }
    granted = httpx.post(f"{server.url}/oauth2/token", data=exchange, auth=agent, timeout=10)
    assert granted.status_code == 200, granted.text
    agent_token = {"Authorization": f"Bearer {granted.json()['access_token']}"}

    page.reload()
    agents = page.get_by_role("region", name="Agents acting for you")
    expect(agents.locator(".device")).to_have_text("research bot")
    agents.get_by_role("button", name="Revoke access of research bot").click()
    expect(page.get_by_role("status")).to_have_text("The agent's access has been revoked.")
    expect(agents).to_contain_text("No agent acts for you.")
    chat = httpx.post(
        f"{server.url}/api/ai/chat", json={"message": "hi"}, headers=agent_token, timeout=10
    )
    assert chat.status_code == 401


@pytest.mark.parametrize(
    "server_options", [pytest.param({"encryption_key": generate_kek()}, id="vault-on")]
)
def test_api_key_is_listed_and_disconnected_from_the_account_page(
    page: Page, server: LiveServer
) -> None:
    sign_up(page)
    access = {"Authorization": f"Bearer {cookie(page.context, 'access_token')}"}
    stored = httpx.put(
        f"{server.url}/auth/connections/keys/openai",
        json={"value": "sk-browser-test-0123456789"},
        headers=access,
        timeout=10,
    )
    assert stored.status_code == 200, stored.text
    connections = page.get_by_role("region", name="Connected accounts")
    expect(connections).to_contain_text("No account or API key is connected.")

    page.reload()
    item = connections.locator("li", has_text="openai")
    expect(item.locator(".device")).to_have_text("openai")
    expect(item).to_contain_text("API key")
    expect(item).to_contain_text("never")  # not used by an agent yet
    expect(page.locator("body")).not_to_contain_text("sk-browser-test")
    page.set_viewport_size({"width": 375, "height": 740})
    assert scroll_width(page) <= 375
    connections.get_by_role("button", name="Disconnect openai").click()
    expect(page.get_by_role("status")).to_have_text("The API key has been deleted.")
    expect(connections).to_contain_text("No account or API key is connected.")
    listed = httpx.get(f"{server.url}/auth/connections", headers=access, timeout=10)
    assert listed.json() == {"connections": []}
