"""The sign-in form shares the API's failed-login budget and says how long to wait."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from authgate.http.pages.throttle import wait_message
from tests.conftest import login, register
from tests.http.pages.forms import sign_in


@pytest.fixture
def settings(settings_factory: Any) -> Any:
    return settings_factory(rate_limit_enabled=True, rate_limit_login="3 per 15 minutes")


async def test_too_many_failures_show_the_wait_inline(client: httpx.AsyncClient) -> None:
    await register(client)
    for _ in range(3):
        assert (await sign_in(client, password="wrong password")).status_code == 400
    blocked = await sign_in(client)  # even the right password waits now
    assert blocked.status_code == 429
    # GCRA: "3 per 15 minutes" frees one attempt every 5 minutes once the burst is spent.
    assert int(blocked.headers["retry-after"]) == 5 * 60
    assert "Too many sign-in attempts. Please wait 5 minutes before trying again." in blocked.text
    assert "access_token" not in blocked.headers.get("set-cookie", "")


async def test_form_and_api_failures_count_together(client: httpx.AsyncClient) -> None:
    await register(client)
    for _ in range(3):
        response = await client.post(
            "/auth/login", json={"email": "ada@example.com", "password": "wrong password"}
        )
        assert response.status_code == 401
    assert (await sign_in(client)).status_code == 429


async def test_successful_sign_in_is_not_counted(client: httpx.AsyncClient) -> None:
    await register(client)
    for _ in range(4):
        client.cookies.clear()
        assert (await sign_in(client)).status_code == 303
    await login(client)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(1, "1 second"), (59, "59 seconds"), (60, "1 minute"), (61, "2 minutes"), (900, "15 minutes")],
)
def test_wait_is_said_in_words(seconds: int, text: str) -> None:
    assert wait_message(seconds) == text
