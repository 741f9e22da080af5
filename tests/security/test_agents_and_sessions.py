"""``require()`` refuses delegated and agent tokens unless a route says it serves them
(issue 19 item 2).

Before the fix, a delegated agent token holding only ``use_agent`` listed the user's
sessions (IPs, user agents), revoked any of them and called logout-all. Now those
routes, and every ``require()`` that does not opt in, answer 403 in the stable shape.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

import httpx
import pytest
from fastapi import Depends, FastAPI

from authgate.http.dependencies import require
from authgate.http.error_responses import install_error_handlers
from authgate.principal import Principal
from authgate.testing import client_for
from tests.conftest import bearer, login, register
from tests.helpers import runtime_of

Tokens = dict[str, Any]


@pytest.fixture
async def tokens(app: FastAPI, client: httpx.AsyncClient) -> Tokens:
    """The user's own token, a delegation to an agent, and the agent's own token."""
    user_json = await register(client)
    pair = await login(client)
    runtime = runtime_of(app)
    user = await runtime.store.user_by_id(user_json["id"])
    parent = await runtime.store.session_by_id(pair["sessionId"])
    assert user is not None
    assert parent is not None
    created = await runtime.clients.create(
        name="bot", kind="agent", scopes=["use_agent"], owner_user_id=user.id
    )
    agent_id = created.client.client_id
    delegated = await runtime.auth.start_delegation(
        user, parent, agent_id=agent_id, scopes=["use_agent"], lifetime=3600, jkt=None
    )
    own = await runtime.auth.start_agent_grant(
        agent_id=agent_id, owner_id=user.id, scopes=["use_agent"], jkt=None
    )
    return {
        "user": pair["accessToken"],
        "delegated": delegated.access.token,
        "agent": own.token,
        "session_id": pair["sessionId"],
    }


Call = Callable[[httpx.AsyncClient, str, Tokens], Awaitable[httpx.Response]]
USER_ONLY_ROUTES: list[Any] = [
    pytest.param(lambda c, t, _: c.get("/auth/sessions", headers=bearer(t)), id="list-sessions"),
    pytest.param(
        lambda c, t, k: c.delete(f"/auth/sessions/{k['session_id']}", headers=bearer(t)),
        id="revoke-session",
    ),
    pytest.param(lambda c, t, _: c.post("/auth/logout-all", headers=bearer(t)), id="logout-all"),
    pytest.param(lambda c, t, _: c.post("/auth/logout", headers=bearer(t)), id="logout"),
]
# /auth/me answers agents and delegations with who they are (issue 20 item 8): it reads,
# it manages nothing (tests/agents/test_agent_me.py).


@pytest.mark.parametrize("caller", ["delegated", "agent"])
@pytest.mark.parametrize("call", USER_ONLY_ROUTES)
async def test_agent_tokens_cannot_manage_the_users_sessions(
    client: httpx.AsyncClient, tokens: Tokens, call: Call, caller: str
) -> None:
    response = await call(client, tokens[caller], tokens)
    assert response.status_code == 403, response.text
    body = response.json()
    assert set(body) == {"error", "message"}
    assert body["error"] == "Insufficient permissions"
    # Nothing was revoked: the user's own session still works.
    assert (await client.get("/auth/sessions", headers=bearer(tokens["user"]))).status_code == 200


async def test_the_user_still_manages_their_sessions(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    listed = await client.get("/auth/sessions", headers=bearer(tokens["user"]))
    assert listed.status_code == 200
    assert "ip" in listed.json()["sessions"][0]
    ended = await client.post("/auth/logout-all", headers=bearer(tokens["user"]))
    assert ended.status_code == 200


@pytest.mark.parametrize("caller", ["user", "delegated", "agent"])
async def test_chat_keeps_serving_agents_and_delegations(
    client: httpx.AsyncClient, tokens: Tokens, caller: str
) -> None:
    response = await client.post(
        "/api/ai/chat", json={"message": "hi"}, headers=bearer(tokens[caller])
    )
    assert response.status_code == 200, response.text


def _probe_app(app: FastAPI, **policy: Any) -> FastAPI:
    probe = FastAPI()
    probe.state.authgate = runtime_of(app)
    install_error_handlers(probe)

    @probe.get("/probe")
    async def handler(principal: Principal = Depends(require(**policy))) -> dict[str, str]:
        return {"id": principal.id}

    return probe


Policy = dict[str, Literal["allow", "require", "forbid"]]


@pytest.mark.parametrize(
    ("policy", "allowed"),
    [
        pytest.param({}, {"user"}, id="default-user-only"),
        pytest.param({"delegation": "allow"}, {"user", "delegated"}, id="delegation-allow"),
        pytest.param({"agents": "allow"}, {"user", "agent"}, id="agents-allow"),
        pytest.param(
            {"delegation": "allow", "agents": "allow"},
            {"user", "delegated", "agent"},
            id="both-allowed",
        ),
        pytest.param({"delegation": "require"}, {"delegated"}, id="delegation-require"),
        pytest.param({"delegation": "forbid"}, {"user"}, id="delegation-forbid"),
    ],
)
async def test_require_policies(
    app: FastAPI, tokens: Tokens, policy: Policy, allowed: set[str]
) -> None:
    async with client_for(_probe_app(app, **policy)) as probe:
        for caller in ("user", "delegated", "agent"):
            response = await probe.get("/probe", headers=bearer(tokens[caller]))
            assert response.status_code == (200 if caller in allowed else 403), caller


def test_an_unknown_policy_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="agents"):
        require(agents="sometimes")  # type: ignore[arg-type]
