"""``make screenshots``: a PNG of each page, for docs/pages.md.

python -m tests.browser.screenshots docs/screenshots
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Page, sync_playwright

from authgate.keys.encryption import generate_kek
from tests.browser.live import PASSWORD, LiveServer, launch_chromium, live_server

DESKTOP = {"width": 1024, "height": 720}
PHONE = {"width": 375, "height": 740}
FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
# A provider is configured so the sign-in page shows its button; it is never contacted.
PROVIDER = {
    "oidc_providers": ["corp"],
    "oidc_provider_settings": {
        "corp": {
            "issuer": "https://sso.example.com",
            "client_id": "authgate",
            "client_secret": "screenshot-only-client-secret",
            "redirect_uri": "http://127.0.0.1/auth/oauth/corp/callback",
        }
    },
    "rate_limit_enabled": True,
    "rate_limit_login": "3 per 15 minutes",
    # The vault is on, so the account page lists connected accounts and API keys.
    "encryption_key": generate_kek(),
}


def sign_in(browser: Browser, url: str, user_agent: str | None = None) -> None:
    context = browser.new_context(base_url=url, user_agent=user_agent)
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/account")
    context.close()


def delegate_to_an_agent(server: LiveServer, access_token: str) -> None:
    """Ada lets a "research bot" agent act for her (RFC 8693 token exchange)."""
    user = server.call(server.runtime.store.user_by_email("ada@example.com"))
    assert user is not None
    created = server.call(
        server.runtime.clients.create(
            name="research bot", kind="agent", scopes=["use_agent"], owner_user_id=user.id
        )
    )
    exchange = {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": access_token,
        "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
    }
    agent = (created.client.client_id, created.secret)
    httpx.post(
        f"{server.url}/auth/delegations",
        json={"clientId": agent[0], "scopes": ["use_agent"]},
        headers={"Authorization": f"Bearer {access_token}"},
    ).raise_for_status()
    httpx.post(f"{server.url}/oauth2/token", data=exchange, auth=agent).raise_for_status()


def store_keys(server: LiveServer, access_token: str) -> None:
    """Ada keeps API keys for her agents in the vault (made-up values, never shown)."""
    for service in ("openai", "anthropic"):
        httpx.put(
            f"{server.url}/auth/connections/keys/{service}",
            json={"value": f"sk-screenshot-{service}"},
            headers={"Authorization": f"Bearer {access_token}"},
        ).raise_for_status()


def ask_for_approval(server: LiveServer, access_token: str) -> None:
    """A "pay bot" Ada delegated to asks her to approve one payment (OpenID CIBA s7.1)."""
    runtime = server.runtime
    server.call(
        runtime.authserver.resources.create(
            name="Payments",
            url="https://payments.example.com/mcp",
            scopes=["payments"],
            authorization_details_types=["tool_call"],
        )
    )
    user = server.call(runtime.store.user_by_email("ada@example.com"))
    assert user is not None
    created = server.call(
        runtime.clients.create(
            name="pay bot", kind="agent", scopes=["use_agent"], owner_user_id=user.id
        )
    )
    agent = (created.client.client_id, created.secret)
    httpx.post(
        f"{server.url}/auth/delegations",
        json={"clientId": agent[0], "scopes": ["use_agent"]},
        headers={"Authorization": f"Bearer {access_token}"},
    ).raise_for_status()
    payment = {
        "type": "tool_call",
        "resource": "https://payments.example.com/mcp",
        "tool": "send_payment",
        "arguments_sha256": "n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg",
        "summary": "Pay 40 EUR to ACME Ltd for invoice 1042",
    }
    httpx.post(
        f"{server.url}/oauth2/bc-authorize",
        data={
            "login_hint": "ada@example.com",
            "binding_message": "Invoice 1042 · code 4F2K",
            "scope": "payments",
            "authorization_details": json.dumps([payment]),
        },
        auth=agent,
    ).raise_for_status()


def shoot_approvals(browser: Browser, out: Path) -> None:
    """A request waiting on /account at phone width, as it appears without a reload."""
    with tempfile.TemporaryDirectory() as state, live_server(Path(state)) as server:
        phone = browser.new_context(base_url=server.url, viewport=PHONE).new_page()
        phone.goto("/register")
        phone.get_by_label("Email").fill("ada@example.com")
        phone.get_by_label("Password").fill(PASSWORD)
        phone.get_by_role("button", name="Create account").click()
        phone.wait_for_url("**/account")
        cookies = {c["name"]: c["value"] for c in phone.context.cookies()}
        ask_for_approval(server, cookies["access_token"])
        phone.locator("[data-approval-id]").wait_for()
        clip = {"x": 0, "y": 0, "width": PHONE["width"], "height": 800}
        phone.screenshot(path=out / "approvals-phone.png", clip=clip, full_page=True)
        print(f"wrote {out / 'approvals-phone.png'}")
        phone.context.close()


def shoot(page: Page, out: Path, name: str) -> None:
    page.wait_for_load_state("load")
    page.screenshot(path=out / f"{name}.png", full_page=True)
    print(f"wrote {out / name}.png")


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as state,
        live_server(Path(state), **PROVIDER) as server,
        sync_playwright() as playwright,
    ):
        browser = launch_chromium(playwright)
        desk = browser.new_context(base_url=server.url, viewport=DESKTOP).new_page()
        desk.goto("/login")
        shoot(desk, out, "login")
        desk.goto("/register")
        desk.get_by_label("Email").fill("ada@example.com")
        desk.get_by_label("Name").fill("Ada Lovelace")
        shoot(desk, out, "register")
        desk.get_by_label("Password").fill(PASSWORD)
        desk.get_by_role("button", name="Create account").click()
        desk.wait_for_url("**/account")
        sign_in(browser, server.url, FIREFOX_WINDOWS)
        sign_in(browser, server.url, SAFARI_IPHONE)
        cookies = {c["name"]: c["value"] for c in desk.context.cookies()}
        delegate_to_an_agent(server, cookies["access_token"])
        store_keys(server, cookies["access_token"])
        desk.reload()
        shoot(desk, out, "account")

        phone = browser.new_context(base_url=server.url, viewport=PHONE).new_page()
        for attempt in range(4):
            phone.goto("/login")
            phone.get_by_label("Email").fill("mallory@example.com")
            phone.get_by_label("Password").fill(f"guess number {attempt}")
            phone.get_by_role("button", name="Sign in").click()
            if attempt == 0:
                shoot(phone, out, "login-error-phone")
        shoot(phone, out, "login-rate-limited-phone")
        phone.context.add_cookies(desk.context.cookies())
        phone.goto("/account")
        shoot(phone, out, "account-phone")
        desk.goto("/auth/error?reason=access_denied&provider=corp")
        shoot(desk, out, "oauth-error")
        shoot_approvals(browser, out)
        browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots"))
