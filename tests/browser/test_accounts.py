"""The account lifecycle in Chromium over real HTTP: verify an email and reset a password
by following mailed links (a real SMTP server on loopback), enrol an authenticator app and
a passkey, and sign in with either. Passkeys use a CDP virtual authenticator.

The site is reached as http://localhost:PORT: a WebAuthn RP id is a host name, never an
IP address, and localhost is a secure context.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from playwright.sync_api import Browser, BrowserContext, CDPSession, Page, expect

from tests.accounts.mailbox import Mailbox, smtp_server
from tests.browser.live import PASSWORD, LiveServer

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def mailbox(tmp_path: Path) -> Iterator[Mailbox]:
    with smtp_server(tmp_path) as box:
        yield box


@pytest.fixture
def server_options(server_port: int, mailbox: Mailbox) -> dict[str, Any]:
    return {
        "public_url": f"http://localhost:{server_port}",
        "smtp_url": mailbox.url,
        "smtp_ca_file": mailbox.ca_file,
    }


@pytest.fixture
def context(browser: Browser, server: LiveServer, server_port: int) -> Iterator[BrowserContext]:
    problems: list[str] = []
    ctx = browser.new_context(base_url=f"http://localhost:{server_port}")
    ctx.set_default_timeout(10_000)
    ctx.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and "Content Security Policy" in m.text
            else None
        ),
    )
    yield ctx
    ctx.close()
    assert problems == [], f"CSP violations: {problems}"


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def virtual_authenticator(context: BrowserContext, page: Page) -> CDPSession:
    """A platform authenticator with a resident-key store and user verification."""
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp


def sign_up(page: Page, email: str = "ada@example.com") -> None:
    page.goto("/register")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/account$"))


def sign_out(page: Page) -> None:
    page.locator("header").get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login"))


def password_step(page: Page, password: str = PASSWORD) -> None:
    page.goto("/login?next=/account")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def mails(server: LiveServer, mailbox: Mailbox, address: str) -> str:
    server.call(server.runtime.outbox.drain())
    return mailbox.last_link(address)


def test_verify_the_email_by_following_the_mailed_link(
    page: Page, server: LiveServer, mailbox: Mailbox, server_port: int
) -> None:
    sign_up(page)
    email_card = page.get_by_role("region", name="Email address")
    expect(email_card).to_contain_text("Not verified")
    link = mails(server, mailbox, "ada@example.com")
    assert link.startswith(f"http://localhost:{server_port}/verify-email?key=")
    page.goto(link)
    page.get_by_role("button", name="Confirm my address").click()
    expect(page.locator(".notice")).to_contain_text("ada@example.com is confirmed")
    page.goto("/account")
    expect(page.get_by_role("region", name="Email address")).to_contain_text("Verified")


def test_reset_a_forgotten_password_from_the_mailed_link(
    page: Page, server: LiveServer, mailbox: Mailbox
) -> None:
    sign_up(page)
    sign_out(page)
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_role("button", name="Send the link").click()
    expect(page.locator(".notice")).to_contain_text("If an account uses this address")
    page.goto(mails(server, mailbox, "ada@example.com"))
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set the new password").click()
    expect(page.locator(".notice")).to_contain_text("Your password has been changed")
    password_step(page, NEW_PASSWORD)
    expect(page).to_have_url(re.compile(r"/account$"))


def test_enrol_an_authenticator_app_and_sign_in_with_it(page: Page, server: LiveServer) -> None:
    sign_up(page)
    page.get_by_role("button", name="Set up an authenticator app").click()
    expect(page.locator("img.qr")).to_be_visible()
    totp = pyotp.TOTP(page.locator("[data-totp-secret]").inner_text())
    page.get_by_label("The code your app shows now").fill(totp.at(int(server.clock())))
    page.get_by_role("button", name="Turn it on").click()
    expect(page.locator(".recovery-codes li")).to_have_count(10)
    page.get_by_role("link", name="Done").click()
    sign_out(page)
    server.clock.advance(30)
    password_step(page)
    expect(page.get_by_role("heading", name="Confirm it is you")).to_be_visible()
    page.get_by_label("Code from your authenticator app").fill("000000")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("alert")).to_contain_text("not valid")
    page.get_by_label("Code from your authenticator app").fill(totp.at(int(server.clock())))
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.get_by_role("region", name="Two-step sign-in")).to_contain_text("On")


def test_enrol_a_passkey_and_sign_in_with_it_without_a_password(
    context: BrowserContext, page: Page
) -> None:
    virtual_authenticator(context, page)
    sign_up(page)
    page.get_by_label("Name for the new passkey").fill("Laptop")
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.locator(".notice")).to_contain_text("The passkey has been added")
    expect(page.locator("[data-passkey='Laptop']")).to_have_count(1)
    sign_out(page)
    page.goto("/login?next=/account")
    page.get_by_role("button", name="Use a passkey").click()
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.locator("[data-passkey='Laptop']")).to_contain_text("last used")


def test_a_passkey_is_the_second_factor_after_the_password(
    context: BrowserContext, page: Page, server: LiveServer
) -> None:
    virtual_authenticator(context, page)
    sign_up(page)
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.locator(".notice")).to_contain_text("The passkey has been added")
    page.locator("[data-passkey='Passkey'] input[name=name]").fill("Phone")
    page.locator("[data-passkey='Passkey']").get_by_role("button", name="Rename").click()
    expect(page.locator("[data-passkey='Phone']")).to_have_count(1)
    sign_out(page)
    password_step(page)
    expect(page.get_by_role("heading", name="Confirm it is you")).to_be_visible()
    page.get_by_role("button", name="Use your passkey").click()
    expect(page).to_have_url(re.compile(r"/account$"))
    sessions = server.call(server.runtime.auth.active_sessions(_user_id(server)))
    assert sorted(sessions[0].amr or []) == ["hwk", "pwd"]


def test_passkey_buttons_stay_disabled_until_their_script_runs(
    browser: Browser, page: Page, server_port: int
) -> None:
    """A click before passkeys.js attached (or with script off) would post an empty form
    and land on a bare JSON error: the buttons are rendered disabled and the script
    enables them."""
    sign_up(page)
    add = page.get_by_role("button", name="Add a passkey")
    expect(add).to_be_enabled()
    plain = browser.new_context(
        base_url=f"http://localhost:{server_port}", java_script_enabled=False
    )
    try:
        without = plain.new_page()
        without.goto("/login")
        expect(without.get_by_role("button", name="Use a passkey")).to_be_disabled()
        plain.add_cookies(page.context.cookies())
        without.goto("/account")
        expect(without.get_by_role("button", name="Add a passkey")).to_be_disabled()
    finally:
        plain.close()
    sign_out(page)
    page.goto("/login")
    expect(page.get_by_role("button", name="Use a passkey")).to_be_enabled()


def _user_id(server: LiveServer) -> str:
    user = server.call(server.runtime.store.user_by_email("ada@example.com"))
    assert user is not None
    return user.id


def test_delete_my_account(page: Page, server: LiveServer) -> None:
    sign_up(page)
    page.get_by_label("Your password, to confirm").fill(PASSWORD)
    page.get_by_role("button", name="Delete my account").click()
    expect(page.locator(".notice")).to_contain_text("Your account has been deleted")
    assert server.call(server.runtime.store.user_by_email("ada@example.com")) is None
