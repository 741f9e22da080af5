"""``GET /auth/me`` answers agents too (issue 20 item 8): an agent learns who it is."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.agents.test_agent_grants import client_credentials, delegate, make_agent
from tests.conftest import bearer, login, register


@pytest.fixture
async def user_pair(client: httpx.AsyncClient) -> dict[str, Any]:
    await register(client)
    return await login(client)


async def test_an_agents_own_token_answers_the_agents_identity(
    app: FastAPI, client: httpx.AsyncClient, user_pair: dict[str, Any]
) -> None:
    agent_id, secret = await make_agent(app, scopes=["use_agent"])
    token = (await client_credentials(client, (agent_id, secret))).json()["access_token"]
    response = await client.get("/auth/me", headers=bearer(token))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == {
        "id": f"agent:{agent_id}",
        "kind": "agent",
        "clientId": agent_id,
        "name": "research bot",
        "ownerId": user_pair["user"]["id"],
        "permissions": ["use_agent"],
        "sessionId": body["sessionId"],
        "dpopBound": False,
    }
    assert secret not in response.text


async def test_a_delegated_token_answers_the_user_and_names_the_agent(
    app: FastAPI, client: httpx.AsyncClient, user_pair: dict[str, Any]
) -> None:
    agent = await make_agent(app, scopes=["use_agent"])
    exchanged = await delegate(client, agent, user_pair["accessToken"], scope="use_agent")
    assert exchanged.status_code == 200, exchanged.text
    response = await client.get("/auth/me", headers=bearer(exchanged.json()["access_token"]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["email"] == "ada@example.com"
    assert body["actor"] == agent[0]
    assert body["permissions"] == ["use_agent"]


async def test_a_users_own_token_has_no_actor(
    client: httpx.AsyncClient, user_pair: dict[str, Any]
) -> None:
    body = (await client.get("/auth/me", headers=bearer(user_pair["accessToken"]))).json()
    assert body["email"] == "ada@example.com"
    assert "actor" not in body
