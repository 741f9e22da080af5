"""/account and its sign-out forms over HTTP."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from authgate.testing import FrozenClock, client_for
from tests.helpers import runtime_of
from tests.http.pages.forms import ORIGIN, form_token, sign_in, sign_up

LAPTOP = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"}


@pytest.fixture
async def laptop(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A second browser of the same person."""
    async with client_for(app, headers=LAPTOP) as other:
        yield other


def session_ids(html: str) -> list[str]:
    return re.findall(r'data-session-id="([^"]+)"', html)


async def revoke(client: httpx.AsyncClient, session_id: str) -> httpx.Response:
    token = await form_token(client, "/account")
    return await client.post(
        "/account/sessions/revoke",
        data={"csrf_token": token, "session": session_id},
        headers=ORIGIN,
    )


async def test_signed_out_visitor_is_sent_to_sign_in(client: httpx.AsyncClient) -> None:
    response = await client.get("/account")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Faccount"
    assert "set-cookie" not in response.headers


async def test_account_lists_every_session_this_device_first(
    client: httpx.AsyncClient, laptop: httpx.AsyncClient
) -> None:
    await sign_up(client)
    await sign_in(laptop)
    page = await client.get("/account")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert len(session_ids(page.text)) == 2
    first, second = page.text.split('<li class="session', 2)[1:]
    assert "This device" in first
    assert "pytest-agent on unknown system" in first
    assert "This device" not in second
    assert "Firefox 128 on Linux" in second


async def test_expired_access_token_is_refreshed_with_new_cookies(
    client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    await sign_up(client)
    old_refresh = client.cookies["refresh_token"]
    clock.advance(16 * 60)
    page = await client.get("/account")
    assert page.status_code == 200
    cookies = page.headers.get_list("set-cookie")
    assert any(c.startswith("access_token=") for c in cookies)
    assert client.cookies["refresh_token"] != old_refresh
    assert (await client.get("/account")).status_code == 200


async def test_expired_refresh_token_means_signing_in_again(
    client: httpx.AsyncClient, clock: FrozenClock, app: FastAPI
) -> None:
    await sign_up(client)
    clock.advance(runtime_of(app).settings.refresh_token_ttl + 60)
    response = await client.get("/account")
    assert response.headers["location"] == "/login?next=%2Faccount&notice=session_ended"


async def test_revoked_session_is_signed_out_and_its_cookies_cleared(
    client: httpx.AsyncClient, laptop: httpx.AsyncClient
) -> None:
    await sign_up(client)
    await sign_in(laptop)
    _mine, laptop_session = session_ids((await client.get("/account")).text)
    response = await revoke(client, laptop_session)
    assert response.headers["location"] == "/account?notice=session_revoked"
    kicked = await laptop.get("/account")
    assert kicked.status_code == 303
    assert kicked.headers["location"] == "/login?next=%2Faccount&notice=session_ended"
    cleared = kicked.headers.get_list("set-cookie")
    assert any(c.startswith('access_token=""') for c in cleared)
    assert any(c.startswith('refresh_token=""') for c in cleared)


async def test_one_person_cannot_sign_out_anothers_session(
    client: httpx.AsyncClient, laptop: httpx.AsyncClient
) -> None:
    await sign_up(client, "ada@example.com")
    await sign_up(laptop, "bob@example.com")
    (ada_session,) = session_ids((await client.get("/account")).text)
    response = await revoke(laptop, ada_session)
    assert response.headers["location"] == "/account?notice=already_ended"
    assert (await client.get("/account")).status_code == 200


async def test_signing_out_this_session_from_the_list_signs_out(
    client: httpx.AsyncClient,
) -> None:
    await sign_up(client)
    (mine,) = session_ids((await client.get("/account")).text)
    response = await revoke(client, mine)
    assert response.headers["location"] == "/login?notice=signed_out"
    assert (await client.get("/account")).status_code == 303


async def test_sign_out_everywhere_revokes_every_session(
    client: httpx.AsyncClient, laptop: httpx.AsyncClient, app: FastAPI
) -> None:
    await sign_up(client)
    await sign_in(laptop)
    token = await form_token(client, "/account")
    response = await client.post(
        "/account/sessions/revoke-all", data={"csrf_token": token}, headers=ORIGIN
    )
    assert response.headers["location"] == "/login?notice=signed_out_everywhere"
    assert (await laptop.get("/account")).status_code == 303
    user = await runtime_of(app).store.user_by_email("ada@example.com")
    assert user is not None
    assert list(await runtime_of(app).auth.active_sessions(user.id)) == []
