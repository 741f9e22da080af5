"""Token exchange needs the user's consent to that agent (RFC 8693; issue 19 item 4).

Before the fix, any registered agent that got hold of a user's 15-minute access token
could exchange it for a refreshable delegation of up to 24 hours. Now the user must have
consented to that agent (``POST /auth/delegations``, with the user's own token only);
the delegation stays within the consent's scopes and ``maxTtl``.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from authgate.testing import FrozenClock
from tests.agents.test_agent_grants import claims_of, delegate, make_agent
from tests.conftest import bearer, login, register
from tests.helpers import audit_events, consent_to, create_admin, runtime_of


@pytest.fixture
async def user_pair(client: httpx.AsyncClient) -> dict[str, Any]:
    await register(client)
    return await login(client)


async def _live_delegations(app: FastAPI, user_id: str) -> int:
    return len(await runtime_of(app).auth.delegations(user_id))


async def test_without_consent_the_exchange_is_refused(
    app: FastAPI, client: httpx.AsyncClient, user_pair: dict[str, Any]
) -> None:
    agent = await make_agent(app, scopes=["use_agent"], consent=False)
    response = await delegate(client, agent, user_pair["accessToken"])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert "refresh_token" not in response.json()
    assert await _live_delegations(app, user_pair["user"]["id"]) == 0


async def test_another_users_consent_does_not_count(
    app: FastAPI, client: httpx.AsyncClient, user_pair: dict[str, Any]
) -> None:
    agent = await make_agent(app, scopes=["use_agent"], consent=False)
    await register(client, "bob@example.com")
    bob = await login(client, "bob@example.com")
    await consent_to(client, bob["accessToken"], agent[0])
    response = await delegate(client, agent, user_pair["accessToken"])
    assert response.json()["error"] == "invalid_grant"


async def test_consent_to_another_agent_does_not_count(
    app: FastAPI, client: httpx.AsyncClient, user_pair: dict[str, Any]
) -> None:
    trusted = await make_agent(app, scopes=["use_agent"], consent=False)
    thief = await make_agent(app, scopes=["use_agent"], consent=False)
    await consent_to(client, user_pair["accessToken"], trusted[0])
    assert (await delegate(client, thief, user_pair["accessToken"])).json()["error"] == (
        "invalid_grant"
    )
    assert (await delegate(client, trusted, user_pair["accessToken"])).status_code == 200


async def _admin_agent(app: FastAPI, client: httpx.AsyncClient) -> tuple[dict[str, Any], Any]:
    admin = await create_admin(app, client)
    agent = await make_agent(
        app, scopes=["use_agent", "manage_agent"], owner="root@example.com", consent=False
    )
    await consent_to(client, admin["accessToken"], agent[0], scopes=["use_agent"])
    return admin, agent


async def test_scopes_beyond_the_consent_are_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin, agent = await _admin_agent(app, client)
    response = await delegate(client, agent, admin["accessToken"], scope="use_agent manage_agent")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


async def test_the_default_scope_is_narrowed_to_the_consent(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin, agent = await _admin_agent(app, client)
    response = await delegate(client, agent, admin["accessToken"])
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "use_agent"
    assert claims_of(response.json()["access_token"])["permissions"] == ["use_agent"]


@pytest.mark.parametrize("requested", [None, "86400"], ids=["default", "longer-requested"])
async def test_the_lifetime_is_bounded_by_the_consent(
    app: FastAPI,
    client: httpx.AsyncClient,
    user_pair: dict[str, Any],
    clock: FrozenClock,
    requested: str | None,
) -> None:
    agent = await make_agent(app, scopes=["use_agent"], consent=False)
    await consent_to(client, user_pair["accessToken"], agent[0], max_ttl=600)
    form = {} if requested is None else {"requested_lifetime": requested}
    body = (await delegate(client, agent, user_pair["accessToken"], **form)).json()
    now = int(clock.now)
    assert claims_of(body["refresh_token"])["exp"] <= now + 600
    session = await runtime_of(app).store.session_by_id(body["delegation_id"])
    assert session is not None
    assert session.expires_at == now + 600
    clock.advance(601)
    refreshed = await client.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        auth=agent,
    )
    assert refreshed.json()["error"] == "invalid_grant"


async def test_withdrawing_consent_ends_its_delegations_and_refuses_new_ones(
    app: FastAPI, client: httpx.AsyncClient, user_pair: dict[str, Any]
) -> None:
    agent = await make_agent(app, scopes=["use_agent"], consent=False)
    consent = await consent_to(client, user_pair["accessToken"], agent[0])
    body = (await delegate(client, agent, user_pair["accessToken"])).json()
    token = user_pair["accessToken"]
    gone = await client.delete(f"/auth/delegations/consents/{consent['id']}", headers=bearer(token))
    assert gone.status_code == 200, gone.text
    assert gone.json()["revokedDelegations"] == 1
    chat = await client.post(
        "/api/ai/chat", json={"message": "hi"}, headers=bearer(body["access_token"])
    )
    assert chat.status_code == 401
    assert (await delegate(client, agent, token)).json()["error"] == "invalid_grant"
    assert await audit_events(app, "delegation.consent_withdrawn")


async def test_consents_are_listed_for_the_user(
    app: FastAPI, client: httpx.AsyncClient, user_pair: dict[str, Any]
) -> None:
    agent = await make_agent(app, scopes=["use_agent"], consent=False)
    consent = await consent_to(client, user_pair["accessToken"], agent[0], max_ttl=900)
    listed = await client.get("/auth/delegations", headers=bearer(user_pair["accessToken"]))
    assert listed.json()["consents"] == [consent]
    assert consent["agent"] == {"id": agent[0], "name": "research bot"}
    assert consent["maxTtl"] == 900


async def test_consenting_again_replaces_the_scopes_and_lifetime(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await create_admin(app, client)
    agent = await make_agent(
        app, scopes=["use_agent", "manage_agent"], owner="root@example.com", consent=False
    )
    first = await consent_to(client, admin["accessToken"], agent[0], scopes=["use_agent"])
    second = await consent_to(
        client, admin["accessToken"], agent[0], scopes=["manage_agent"], max_ttl=300
    )
    assert second["id"] == first["id"]
    assert (second["scopes"], second["maxTtl"]) == (["manage_agent"], 300)


BAD_CONSENTS: list[Any] = [
    pytest.param({"clientId": "agent_nobody", "scopes": ["use_agent"]}, 404, id="unknown-agent"),
    pytest.param({"scopes": ["manage_agent"]}, 400, id="scope-beyond-the-user"),
    pytest.param({"scopes": ["read_docs"]}, 400, id="scope-beyond-the-agent"),
    pytest.param({"scopes": ["use_agent"], "maxTtl": 10 * 86400}, 400, id="ttl-beyond-the-max"),
    pytest.param({"scopes": ["use_agent"], "maxTtl": 1}, 422, id="ttl-too-short"),
    pytest.param({"scopes": []}, 422, id="no-scope"),
]


@pytest.mark.parametrize(("body", "status"), BAD_CONSENTS)
async def test_bad_consents_are_refused(
    app: FastAPI,
    client: httpx.AsyncClient,
    user_pair: dict[str, Any],
    body: dict[str, Any],
    status: int,
) -> None:
    agent = await make_agent(app, scopes=["use_agent", "manage_agent"], consent=False)
    response = await client.post(
        "/auth/delegations",
        json={"clientId": agent[0], **body},
        headers=bearer(user_pair["accessToken"]),
    )
    assert response.status_code == status, response.text
    assert await runtime_of(app).consents.for_user(user_pair["user"]["id"]) == []


async def test_a_disabled_agent_cannot_be_consented_to(
    app: FastAPI, client: httpx.AsyncClient, user_pair: dict[str, Any]
) -> None:
    agent = await make_agent(app, scopes=["use_agent"], consent=False)
    await runtime_of(app).clients.disable(agent[0])
    response = await client.post(
        "/auth/delegations",
        json={"clientId": agent[0], "scopes": ["use_agent"]},
        headers=bearer(user_pair["accessToken"]),
    )
    assert response.status_code == 404


@pytest.mark.parametrize("caller", ["delegated", "agent"])
async def test_only_the_user_can_consent(
    app: FastAPI, client: httpx.AsyncClient, user_pair: dict[str, Any], caller: str
) -> None:
    """An agent cannot consent to itself, or to another agent, for the user."""
    agent = await make_agent(app, scopes=["use_agent"])
    other = await make_agent(app, scopes=["use_agent"], consent=False)
    if caller == "delegated":
        token = (await delegate(client, agent, user_pair["accessToken"])).json()["access_token"]
    else:
        form = {"grant_type": "client_credentials"}
        token = (await client.post("/oauth2/token", data=form, auth=agent)).json()["access_token"]
    response = await client.post(
        "/auth/delegations",
        json={"clientId": other[0], "scopes": ["use_agent"]},
        headers=bearer(token),
    )
    assert response.status_code == 403
    assert (await delegate(client, other, user_pair["accessToken"])).json()["error"] == (
        "invalid_grant"
    )
