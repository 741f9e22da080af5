"""The sign-in page under the failed-login limit."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.live import PASSWORD
from tests.browser.test_pages import sign_in, sign_up


@pytest.fixture
def server_options() -> dict[str, Any]:
    return {"rate_limit_enabled": True, "rate_limit_login": "3 per 15 minutes"}


def test_too_many_failures_show_how_long_to_wait(page: Page) -> None:
    sign_up(page)
    page.context.clear_cookies()
    for _ in range(3):
        sign_in(page, "ada@example.com", "not the password")
        expect(page.get_by_role("alert")).to_have_text("Invalid email or password")
    sign_in(page, "ada@example.com", PASSWORD)
    # GCRA: "3 per 15 minutes" frees one attempt every 5 minutes once the burst is spent.
    expect(page.get_by_role("alert")).to_have_text(
        "Too many sign-in attempts. Please wait 5 minutes before trying again."
    )
    expect(page).to_have_url(re.compile(r"/login$"))
