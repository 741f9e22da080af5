"""The agent SDK against the real app: renewal, delegation, the long-running example."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from examples.long_running_agent import run_task
from fastapi import FastAPI

from authgate.sdk.agent import AgentAuth, aexchange_token
from authgate.sdk.user import AuthgateClientError
from authgate.testing import FrozenClock
from tests.agents.test_agent_grants import make_agent
from tests.conftest import bearer, login, register

BASE = "http://testserver"


@pytest.fixture
async def setup(app: FastAPI, client: httpx.AsyncClient) -> dict[str, Any]:
    await register(client)
    pair = await login(client)
    agent_id, secret = await make_agent(app, scopes=["use_agent"])
    return {"pair": pair, "agent": (agent_id, secret)}


def counting_transport(app: FastAPI, counts: dict[str, int]) -> httpx.AsyncBaseTransport:
    inner = httpx.ASGITransport(app=app)

    class Counting(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path == "/oauth2/token":
                counts["token"] = counts.get("token", 0) + 1
            return await inner.handle_async_request(request)

    return Counting()


async def test_client_credentials_auth_renews_before_expiry(
    app: FastAPI, setup: dict[str, Any], clock: FrozenClock
) -> None:
    counts: dict[str, int] = {}
    transport = counting_transport(app, counts)
    auth = AgentAuth(
        base_url=BASE,
        client_id=setup["agent"][0],
        client_secret=setup["agent"][1],
        clock=clock,
        async_transport=transport,
    )
    async with httpx.AsyncClient(base_url=BASE, auth=auth, transport=transport) as http:
        assert (await http.post("/api/ai/chat", json={"message": "a"})).status_code == 200
        first = auth.access_token
        assert (await http.post("/api/ai/chat", json={"message": "b"})).status_code == 200
        assert counts["token"] == 1
        clock.advance(15 * 60 - 30)  # inside the renewal margin
        assert (await http.post("/api/ai/chat", json={"message": "c"})).status_code == 200
    assert counts["token"] == 2
    assert auth.access_token != first


async def test_concurrent_requests_share_one_renewal(
    app: FastAPI, setup: dict[str, Any], clock: FrozenClock
) -> None:
    import asyncio

    counts: dict[str, int] = {}
    transport = counting_transport(app, counts)
    auth = AgentAuth(
        base_url=BASE,
        client_id=setup["agent"][0],
        client_secret=setup["agent"][1],
        clock=clock,
        async_transport=transport,
    )
    async with httpx.AsyncClient(base_url=BASE, auth=auth, transport=transport) as http:
        replies = await asyncio.gather(
            *(http.post("/api/ai/chat", json={"message": str(i)}) for i in range(8))
        )
    assert all(r.status_code == 200 for r in replies)
    assert counts["token"] == 1


async def test_long_running_example_survives_expiry_and_stops_on_revocation(
    app: FastAPI, client: httpx.AsyncClient, setup: dict[str, Any], clock: FrozenClock
) -> None:
    transport = httpx.ASGITransport(app=app)
    agent_id, secret = setup["agent"]
    body = await aexchange_token(
        base_url=BASE,
        client_id=agent_id,
        client_secret=secret,
        subject_token=setup["pair"]["accessToken"],
        scope="use_agent",
        transport=transport,
    )
    auth = AgentAuth.from_token_response(
        body,
        base_url=BASE,
        client_id=agent_id,
        client_secret=secret,
        clock=clock,
        async_transport=transport,
    )

    async def ten_minutes() -> None:
        clock.advance(600)

    async with httpx.AsyncClient(base_url=BASE, auth=auth, transport=transport) as http:
        # 12 steps of 10 minutes: two hours, eight access-token lifetimes.
        done, outcome = await run_task(http, steps=12, pause=ten_minutes)
        assert (done, outcome) == (12, "finished")
        # Two hours on, the user signs in again (their first access token has expired)
        # and revokes the delegation.
        fresh = await login(client)
        revoked = await client.delete(
            f"/auth/delegations/{body['delegation_id']}", headers=bearer(fresh["accessToken"])
        )
        assert revoked.status_code == 200
        done, outcome = await run_task(http, steps=12, pause=ten_minutes)
    assert done == 0
    assert outcome == "stopped: invalid_grant"


async def test_bad_agent_secret_raises_without_the_secret(
    app: FastAPI, setup: dict[str, Any]
) -> None:
    transport = httpx.ASGITransport(app=app)
    auth = AgentAuth(
        base_url=BASE,
        client_id=setup["agent"][0],
        client_secret="definitely-wrong-secret",
        async_transport=transport,
    )
    async with httpx.AsyncClient(base_url=BASE, auth=auth, transport=transport) as http:
        with pytest.raises(AuthgateClientError) as caught:
            await http.post("/api/ai/chat", json={"message": "x"})
    assert caught.value.status_code == 401
    assert "definitely-wrong-secret" not in str(caught.value)
    assert "definitely-wrong-secret" not in repr(auth)
