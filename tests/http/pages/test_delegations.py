"""Agents acting for the user, listed on /account and revocable there."""

from __future__ import annotations

import re
from typing import Any

import httpx
from fastapi import FastAPI

from tests.agents.test_agent_grants import chat, delegate, make_agent
from tests.http.pages.forms import ORIGIN, form_token, sign_up


async def delegated(app: FastAPI, client: httpx.AsyncClient, email: str) -> dict[str, Any]:
    """A delegation from the signed-in browser's user to a new agent."""
    agent = await make_agent(app, scopes=["use_agent"], owner=email)
    response = await delegate(client, agent, client.cookies["access_token"])
    assert response.status_code == 200, response.text
    return dict(response.json())


async def revoke(client: httpx.AsyncClient, delegation_id: str) -> httpx.Response:
    token = await form_token(client, "/account")
    data = {"csrf_token": token, "delegation": delegation_id}
    return await client.post("/account/delegations/revoke", data=data, headers=ORIGIN)


async def test_account_lists_the_agents_acting_for_the_user(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await sign_up(client)
    grant = await delegated(app, client, "ada@example.com")
    page = (await client.get("/account")).text
    assert re.findall(r'data-delegation-id="([^"]+)"', page) == [grant["delegation_id"]]
    assert "research bot" in page
    assert "<dd>use_agent</dd>" in page


async def test_revoking_a_delegation_stops_the_agent(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await sign_up(client)
    grant = await delegated(app, client, "ada@example.com")
    assert (await chat(client, grant["access_token"])).status_code == 200
    response = await revoke(client, grant["delegation_id"])
    assert response.headers["location"] == "/account?notice=delegation_revoked"
    assert (await chat(client, grant["access_token"])).status_code == 401
    assert "No agent acts for you." in (await client.get("/account")).text


async def test_one_person_cannot_revoke_anothers_delegation(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await sign_up(client, "ada@example.com")
    grant = await delegated(app, client, "ada@example.com")
    client.cookies.clear()
    await sign_up(client, "bob@example.com")
    response = await revoke(client, grant["delegation_id"])
    assert response.headers["location"] == "/account?notice=already_ended"
    assert (await chat(client, grant["access_token"])).status_code == 200


async def test_a_login_session_is_not_revoked_as_a_delegation(client: httpx.AsyncClient) -> None:
    await sign_up(client)
    (mine,) = re.findall(r'data-session-id="([^"]+)"', (await client.get("/account")).text)
    response = await revoke(client, mine)
    assert response.headers["location"] == "/account?notice=already_ended"
    assert (await client.get("/account")).status_code == 200


async def test_an_agents_token_in_the_cookie_does_not_open_the_account(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await sign_up(client)
    grant = await delegated(app, client, "ada@example.com")
    client.cookies.clear()
    client.cookies.set("access_token", grant["access_token"])
    response = await client.get("/account")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=%2Faccount")
