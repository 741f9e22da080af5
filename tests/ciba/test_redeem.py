"""``POST /oauth2/approvals/redeem``: an approval token is spent once at its resource.

First 200 with the approved details, then 409 ``already_used``; 400 ``invalid_token``
for anything that is not an approval token for the calling resource; 401 for bad
resource-server credentials.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.authserver.conftest import ResourceServer, make_resource
from tests.ciba.conftest import Agent, approve_only, ask, poll, tool_call


async def approval_token(app: FastAPI, client: httpx.AsyncClient, agent: Agent) -> str:
    asked = await ask(client, agent)
    await approve_only(app)
    got = await poll(client, agent, asked.json()["auth_req_id"])
    assert got.status_code == 200, got.text
    return str(got.json()["access_token"])


async def redeem(
    client: httpx.AsyncClient, server: ResourceServer | tuple[str, str], token: str
) -> httpx.Response:
    auth = server.auth if isinstance(server, ResourceServer) else server
    return await client.post("/oauth2/approvals/redeem", data={"token": token}, auth=auth)


async def test_first_redemption_wins_and_the_second_is_409(
    app: FastAPI,
    client: httpx.AsyncClient,
    agent: Agent,
    ada: dict[str, Any],
    pay: ResourceServer,
) -> None:
    token = await approval_token(app, client, agent)
    first = await redeem(client, pay, token)
    assert first.status_code == 200, first.text
    assert first.headers["cache-control"] == "no-store"
    assert first.json() == {
        "redeemed": True,
        "authorization_details": [tool_call()],
        "sub": ada["id"],
        "client_id": agent.client_id,
    }
    second = await redeem(client, pay, token)
    assert second.status_code == 409
    assert second.json()["error"] == "already_used"
    metrics = app.state.authgate.metrics
    assert metrics.approvals.labels("used")._value.get() == 1


async def test_another_resource_cannot_redeem_the_token(
    app: FastAPI, client: httpx.AsyncClient, agent: Agent, pay: ResourceServer
) -> None:
    """The token's aud is the payment resource: another resource server gets 400, and
    the token stays unspent for its own resource."""
    other = await make_resource(
        app, url="https://other.example.com/mcp", authorization_details_types=["tool_call"]
    )
    token = await approval_token(app, client, agent)
    wrong = await redeem(client, other, token)
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_token"
    assert (await redeem(client, pay, token)).status_code == 200


async def test_bad_credentials_are_401(
    app: FastAPI, client: httpx.AsyncClient, agent: Agent, pay: ResourceServer
) -> None:
    token = await approval_token(app, client, agent)
    response = await redeem(client, (pay.client_id, "wrong-secret"), token)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert (await redeem(client, pay, token)).status_code == 200  # still unspent


async def test_an_agent_cannot_redeem(
    app: FastAPI, client: httpx.AsyncClient, agent: Agent, pay: ResourceServer
) -> None:
    token = await approval_token(app, client, agent)
    response = await redeem(client, agent.auth, token)
    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"


def _ordinary_resource_token(app: FastAPI, pay: ResourceServer, ada: dict[str, Any]) -> str:
    """A resource token for the same resource, without authorization_details."""
    tokens = app.state.authgate.authserver.tokens
    return str(
        tokens.issue(
            user_id=ada["id"],
            client_id="app_x",
            resource=pay.url,
            scopes=["pay"],
            session_id="s1",
            jkt=None,
            not_after=2**40,
        ).token
    )


@pytest.mark.parametrize("kind", ["garbage", "ordinary-resource-token", "altered"])
async def test_what_is_not_an_approval_token_is_invalid_token(
    app: FastAPI,
    client: httpx.AsyncClient,
    agent: Agent,
    ada: dict[str, Any],
    pay: ResourceServer,
    kind: str,
) -> None:
    if kind == "garbage":
        token = "not-a-token"
    elif kind == "ordinary-resource-token":
        token = _ordinary_resource_token(app, pay, ada)
    else:
        good = await approval_token(app, client, agent)
        head, payload, signature = good.split(".")
        token = f"{head}.{payload}.{signature[:-4]}AAAA"
    response = await redeem(client, pay, token)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_token"


async def test_redeem_needs_a_token(client: httpx.AsyncClient, pay: ResourceServer) -> None:
    response = await client.post("/oauth2/approvals/redeem", data={}, auth=pay.auth)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
