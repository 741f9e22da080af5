"""Signing in through a real OpenID Connect provider's pages (oauth2-mock-server)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.federation.conftest import CLIENTS, MockProvider
from tests.federation.conftest import _oidc_basic as _oidc_basic  # the shared node provider
from tests.federation.conftest import oidc as oidc


@pytest.fixture
def server_options(oidc: MockProvider, server_port: int) -> dict[str, Any]:
    return {
        "oauth_http_timeout": 5.0,
        "oidc_providers": ["corp"],
        "oidc_provider_settings": {
            "corp": {
                "issuer": oidc.issuer,
                "client_id": "corp-client",
                "client_secret": CLIENTS["corp-client"],
                "redirect_uri": f"http://127.0.0.1:{server_port}/auth/oauth/corp/callback",
            }
        },
    }


def test_sign_in_through_the_provider_lands_on_account(page: Page) -> None:
    page.goto("/account")
    page.get_by_role("link", name="Continue with Corp").click()
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.get_by_role("region", name="Profile")).to_contain_text("mock@example.com")
    identities = page.get_by_role("region", name="Linked sign-in providers")
    expect(identities).to_contain_text("Corp · mock@example.com")
    expect(page.locator("ul.sessions > li .badge")).to_have_text("This device")


def test_provider_refusal_shows_the_error_page_with_a_way_back(
    page: Page, oidc: MockProvider
) -> None:
    oidc.configure(authorizeError="access_denied")
    page.goto("/login")
    page.get_by_role("link", name="Continue with Corp").click()
    expect(page).to_have_url(re.compile(r"/auth/error\?reason=access_denied&provider=corp$"))
    expect(page.get_by_role("alert")).to_have_text(
        "Signing in with Corp was cancelled or refused, so you are not signed in."
    )
    page.get_by_role("link", name="Back to sign in").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert not any(c["name"] == "access_token" for c in page.context.cookies())
