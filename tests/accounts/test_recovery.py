"""Password recovery and change: mailed single-use 15-minute links, no enumeration, and
every session, delegation and refresh token of the user revoked by a reset."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from authgate.http.app import create_app
from authgate.testing import FrozenClock, client_for, lifespan, make_settings
from tests.accounts.conftest import delivered, runtime_of
from tests.accounts.mailbox import Mailbox, key_of
from tests.agents.test_agent_grants import delegate, make_agent
from tests.conftest import PASSWORD, bearer, login, register

NEW_PASSWORD = "a different long passphrase"
VOLATILE = {"date", "content-length", "x-request-id", "server", "ratelimit-reset"}


async def _forgot(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post("/auth/password/forgot", json={"email": email})


async def _reset(
    client: httpx.AsyncClient, key: str, password: str = NEW_PASSWORD
) -> httpx.Response:
    return await client.post("/auth/password/reset", json={"token": key, "password": password})


async def _reset_key(app: FastAPI, client: httpx.AsyncClient, mailbox: Mailbox) -> str:
    assert (await _forgot(client, "ada@example.com")).status_code == 202
    await delivered(app)
    link = mailbox.last_link("ada@example.com")
    assert link.startswith("https://auth.example.com/reset-password?key=")
    return key_of(link)


async def test_forgot_answers_alike_for_known_and_unknown_addresses(
    app: FastAPI, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await register(client)
    known = await _forgot(client, "ada@example.com")
    unknown = await _forgot(client, "nobody@example.com")
    assert (known.status_code, known.content) == (unknown.status_code, unknown.content)
    strip = lambda r: {k: v for k, v in r.headers.items() if k not in VOLATILE}  # noqa: E731
    assert strip(known) == strip(unknown)
    await delivered(app)
    assert len(mailbox.to("ada@example.com")) == 2  # sign-up, then the reset
    assert mailbox.to("nobody@example.com") == []


async def test_reset_sets_the_password_and_revokes_everything(
    app: FastAPI, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await register(client)
    first, second = await login(client), await login(client)
    key = await _reset_key(app, client, mailbox)
    response = await _reset(client, key)
    assert response.status_code == 200, response.text
    assert response.json()["revokedSessions"] == 2
    for pair in (first, second):
        me = await client.get("/auth/me", headers=bearer(pair["accessToken"]))
        assert me.status_code == 401
        refreshed = await client.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]})
        assert refreshed.status_code == 401
    old = await client.post("/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert old.status_code == 401
    new = await client.post(
        "/auth/login", json={"email": "ada@example.com", "password": NEW_PASSWORD}
    )
    assert new.status_code == 200
    # Following a link mailed to the address proves it.
    assert new.json()["user"]["emailVerified"] is True


@pytest.mark.parametrize(
    "attack",
    [
        pytest.param("replayed", id="replayed"),
        pytest.param("altered", id="altered"),
        pytest.param("expired", id="expired-after-15-minutes"),
        pytest.param("verify-link", id="verification-link-as-reset"),
    ],
)
async def test_a_bad_reset_link_is_refused(
    app: FastAPI,
    client: httpx.AsyncClient,
    mailbox: Mailbox,
    clock: FrozenClock,
    attack: str,
) -> None:
    await register(client)
    key = await _reset_key(app, client, mailbox)
    if attack == "replayed":
        assert (await _reset(client, key)).status_code == 200
    elif attack == "altered":
        key = key[:-1] + ("A" if key[-1] != "A" else "B")
    elif attack == "expired":
        clock.advance(15 * 60 + 1)
    else:
        key = mailbox_link(mailbox, 0)  # the sign-up's verification link
    response = await _reset(client, key, "yet another long passphrase")
    assert response.status_code == 400
    assert response.json()["error"] == "Invalid link"


def mailbox_link(mailbox: Mailbox, index: int) -> str:
    body = mailbox.to("ada@example.com")[index].get_body(preferencelist=("plain",))
    assert body is not None
    match = re.search(r"\?key=([A-Za-z0-9_-]+)", body.get_content())
    assert match
    return match.group(1)


async def test_a_refused_password_does_not_spend_the_link(
    app: FastAPI, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await register(client)
    key = await _reset_key(app, client, mailbox)
    weak = await _reset(client, key, "short")
    assert weak.status_code == 422
    assert (await _reset(client, key)).status_code == 200


async def test_reset_is_unavailable_without_mail_in_production(
    tmp_path: Path, clock: FrozenClock
) -> None:
    settings = make_settings(tmp_path, env="production", cookie_secure=True)
    application = create_app(settings, clock=clock)
    async with lifespan(application), client_for(application) as plain:
        response = await _forgot(plain, "ada@example.com")
    assert response.status_code == 404


async def test_change_needs_the_current_password_and_keeps_only_this_session(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    here, elsewhere = await login(client), await login(client)
    auth = bearer(here["accessToken"])
    wrong = await client.post(
        "/auth/password/change",
        json={"currentPassword": "not it", "newPassword": NEW_PASSWORD},
        headers=auth,
    )
    assert wrong.status_code == 401
    changed = await client.post(
        "/auth/password/change",
        json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
        headers=auth,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["revokedSessions"] == 1
    assert (await client.get("/auth/me", headers=auth)).status_code == 200
    gone = await client.get("/auth/me", headers=bearer(elsewhere["accessToken"]))
    assert gone.status_code == 401
    assert runtime_of(app).settings.recovery_enabled


async def test_reset_revokes_delegations_and_agent_grants(
    app: FastAPI, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await register(client)
    pair = await login(client)
    agent = await make_agent(app, scopes=["use_agent"])
    delegated = await delegate(client, agent, pair["accessToken"])
    assert delegated.status_code == 200, delegated.text
    key = await _reset_key(app, client, mailbox)
    assert (await _reset(client, key)).status_code == 200
    for token in (delegated.json()["access_token"],):
        chat = await client.post("/api/ai/chat", json={"message": "hi"}, headers=bearer(token))
        assert chat.status_code == 401
    spent = await client.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": delegated.json()["refresh_token"]},
        auth=agent,
    )
    assert spent.status_code == 400
