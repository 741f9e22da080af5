"""Agents as principals over HTTP: client credentials, delegation (RFC 8693), cascade."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from joserfc import jwt as jose_jwt
from joserfc.jwk import ECKey

from tests.conftest import bearer, login, register
from tests.helpers import without_cookies

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TYPE = "urn:ietf:params:oauth:token-type:access_token"


async def make_agent(
    app: FastAPI, *, scopes: list[str], owner: str = "ada@example.com", consent: bool = True
) -> Any:
    """An agent of ``owner``; with ``consent``, the owner has let it act for them with
    every scope it registered (tests/security/test_delegation_consent.py covers without)."""
    runtime = app.state.authgate
    user = await runtime.store.user_by_email(owner)
    created = await runtime.clients.create(
        name="research bot", kind="agent", scopes=scopes, owner_user_id=user.id
    )
    if consent:
        await runtime.consents.grant(
            user_id=user.id,
            agent_id=created.client.client_id,
            scopes=scopes,
            max_ttl=runtime.settings.delegation_max_ttl,
        )
    return created.client.client_id, created.secret


async def client_credentials(
    client: httpx.AsyncClient, agent: tuple[str, str], **form: str
) -> httpx.Response:
    return await client.post(
        "/oauth2/token", data={"grant_type": "client_credentials", **form}, auth=agent
    )


async def delegate(
    client: httpx.AsyncClient, agent: tuple[str, str], user_token: str, **form: str
) -> httpx.Response:
    data = {
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": user_token,
        "subject_token_type": ACCESS_TYPE,
        **form,
    }
    return await client.post("/oauth2/token", data=data, auth=agent)


def claims_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


async def chat(client: httpx.AsyncClient, token: str) -> httpx.Response:
    # The agent's own call: never with a browser's cookies (one credential, RFC 6750 s2).
    return await without_cookies(
        client, "POST", "/api/ai/chat", json={"message": "hi"}, headers=bearer(token)
    )


@pytest.fixture
async def user_pair(client: httpx.AsyncClient) -> dict[str, Any]:
    await register(client)
    return await login(client)


async def test_agent_token_is_issued_scoped_and_not_cached(
    app: FastAPI, client: httpx.AsyncClient, user_pair: dict[str, Any]
) -> None:
    agent = await make_agent(app, scopes=["use_agent"])
    response = await client_credentials(client, agent)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "use_agent"
    assert "refresh_token" not in body
    claims = claims_of(body["access_token"])
    assert claims["sub"] == f"agent:{agent[0]}"
    assert claims["client_id"] == agent[0]
    assert "email" not in claims
    ok = await chat(client, body["access_token"])
    assert ok.status_code == 200
    assert ok.json()["user"]["id"] == f"agent:{agent[0]}"


async def test_a_scope_the_agent_lacks_is_refused_at_the_resource(
    app: FastAPI, client: httpx.AsyncClient, user_pair: dict[str, Any]
) -> None:
    agent = await make_agent(app, scopes=["read_docs"])
    token = (await client_credentials(client, agent)).json()["access_token"]
    response = await chat(client, token)
    assert response.status_code == 403
    assert response.json()["error"] == "Insufficient permissions"


@pytest.mark.parametrize(
    ("form", "error"),
    [
        pytest.param({"scope": "use_agent manage_agent"}, "invalid_scope", id="scope-not-allowed"),
        pytest.param({"grant_type": "password"}, "unsupported_grant_type", id="unsupported-grant"),
    ],
)
async def test_client_credentials_errors(
    app: FastAPI, client: httpx.AsyncClient, user_pair: dict[str, Any], form: Any, error: str
) -> None:
    agent = await make_agent(app, scopes=["use_agent"])
    response = await client.post(
        "/oauth2/token", data={"grant_type": "client_credentials", **form}, auth=agent
    )
    assert response.status_code == 400
    assert response.json()["error"] == error


async def test_wrong_secret_and_non_agent_clients_are_refused(
    app: FastAPI, client: httpx.AsyncClient, user_pair: dict[str, Any]
) -> None:
    agent_id, _secret = await make_agent(app, scopes=["use_agent"])
    bad = await client_credentials(client, (agent_id, "not-the-secret"))
    assert bad.status_code == 401
    assert bad.json()["error"] == "invalid_client"
    created = await app.state.authgate.clients.create(
        name="tool", kind="resource_server", scopes=["use_agent"]
    )
    refused = await client_credentials(client, (created.client.client_id, created.secret))
    assert refused.json()["error"] == "unauthorized_client"


async def test_delegated_token_acts_for_the_user_with_narrower_scope(
    app: FastAPI, client: httpx.AsyncClient, user_pair: dict[str, Any]
) -> None:
    agent = await make_agent(app, scopes=["use_agent", "read_docs"])
    response = await delegate(client, agent, user_pair["accessToken"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["issued_token_type"] == ACCESS_TYPE
    assert body["scope"] == "use_agent"  # user has use_agent only; agent lacks nothing else
    claims = claims_of(body["access_token"])
    assert claims["sub"] == user_pair["user"]["id"]
    assert claims["act"] == {"sub": agent[0]}
    assert claims["permissions"] == ["use_agent"]
    assert claims["roles"] == []
    user_claims = claims_of(user_pair["accessToken"])
    assert set(claims["permissions"]) <= set(user_claims["permissions"])
    ok = await chat(client, body["access_token"])
    assert ok.json()["user"]["id"] == user_pair["user"]["id"]


async def test_delegation_never_widens_scope(
    app: FastAPI, client: httpx.AsyncClient, user_pair: dict[str, Any]
) -> None:
    agent = await make_agent(app, scopes=["use_agent", "manage_agent"])
    response = await delegate(client, agent, user_pair["accessToken"], scope="manage_agent")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


async def test_delegation_with_no_common_scope_is_refused(
    app: FastAPI, client: httpx.AsyncClient, user_pair: dict[str, Any]
) -> None:
    agent = await make_agent(app, scopes=["read_docs"])
    response = await delegate(client, agent, user_pair["accessToken"])
    assert response.json()["error"] == "invalid_scope"


async def test_user_logout_cascades_to_delegated_tokens(
    app: FastAPI, client: httpx.AsyncClient, user_pair: dict[str, Any]
) -> None:
    agent = await make_agent(app, scopes=["use_agent"])
    delegated = (await delegate(client, agent, user_pair["accessToken"])).json()
    assert (await chat(client, delegated["access_token"])).status_code == 200
    await client.post("/auth/logout", headers=bearer(user_pair["accessToken"]))
    assert (await chat(client, delegated["access_token"])).status_code == 401
    refreshed = await client.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": delegated["refresh_token"]},
        auth=agent,
    )
    assert refreshed.json()["error"] == "invalid_grant"


async def test_delegations_are_listed_and_revocable_by_the_user(
    app: FastAPI, client: httpx.AsyncClient, user_pair: dict[str, Any]
) -> None:
    agent = await make_agent(app, scopes=["use_agent"])
    delegated = (await delegate(client, agent, user_pair["accessToken"])).json()
    listed = await client.get("/auth/delegations", headers=bearer(user_pair["accessToken"]))
    items = listed.json()["delegations"]
    assert [d["id"] for d in items] == [delegated["delegation_id"]]
    assert items[0]["agent"] == {"id": agent[0], "name": "research bot"}
    # The agent itself may not list or revoke delegations.
    as_agent = await client.get("/auth/delegations", headers=bearer(delegated["access_token"]))
    assert as_agent.status_code == 403
    gone = await client.delete(
        f"/auth/delegations/{delegated['delegation_id']}",
        headers=bearer(user_pair["accessToken"]),
    )
    assert gone.status_code == 200
    assert (await chat(client, delegated["access_token"])).status_code == 401
    # The user's own session is untouched.
    assert (await chat(client, user_pair["accessToken"])).status_code == 200


async def test_long_running_delegation_refreshes_until_its_absolute_limit(
    app: FastAPI, client: httpx.AsyncClient, user_pair: dict[str, Any], clock: Any
) -> None:
    agent = await make_agent(app, scopes=["use_agent"])
    delegated = (
        await delegate(client, agent, user_pair["accessToken"], requested_lifetime="3600")
    ).json()
    refresh = delegated["refresh_token"]
    for _ in range(3):  # survives several access-token lifetimes without a human
        clock.advance(16 * 60)
        response = await client.post(
            "/oauth2/token",
            data={"grant_type": "refresh_token", "refresh_token": refresh},
            auth=agent,
        )
        assert response.status_code == 200, response.text
        refresh = response.json()["refresh_token"]
        assert claims_of(response.json()["access_token"])["act"] == {"sub": agent[0]}
        assert (await chat(client, response.json()["access_token"])).status_code == 200
    clock.advance(16 * 60)  # past the requested hour
    late = await client.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh},
        auth=agent,
    )
    assert late.json()["error"] == "invalid_grant"


async def test_delegated_refresh_token_is_bound_to_its_agent(
    app: FastAPI, client: httpx.AsyncClient, user_pair: dict[str, Any]
) -> None:
    agent = await make_agent(app, scopes=["use_agent"])
    other = await make_agent(app, scopes=["use_agent"])
    delegated = (await delegate(client, agent, user_pair["accessToken"])).json()
    stolen = await client.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": delegated["refresh_token"]},
        auth=other,
    )
    assert stolen.json()["error"] == "invalid_grant"
    as_user = await client.post("/auth/refresh", json={"refreshToken": delegated["refresh_token"]})
    assert as_user.status_code == 401
    # A user's own refresh token cannot be spent by an agent either.
    grabbed = await client.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": user_pair["refreshToken"]},
        auth=agent,
    )
    assert grabbed.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("subject", ["delegated", "agent-own"])
async def test_agents_cannot_delegate_further(
    app: FastAPI, client: httpx.AsyncClient, user_pair: dict[str, Any], subject: str
) -> None:
    agent = await make_agent(app, scopes=["use_agent"])
    if subject == "delegated":
        token = (await delegate(client, agent, user_pair["accessToken"])).json()["access_token"]
    else:
        token = (await client_credentials(client, agent)).json()["access_token"]
    response = await delegate(client, agent, token)
    assert response.json()["error"] == "invalid_grant"


async def test_actor_token_names_the_agent(
    app: FastAPI, client: httpx.AsyncClient, user_pair: dict[str, Any]
) -> None:
    agent = await make_agent(app, scopes=["use_agent"])
    own = (await client_credentials(client, agent)).json()["access_token"]
    response = await delegate(
        client, agent, user_pair["accessToken"], actor_token=own, actor_token_type=ACCESS_TYPE
    )
    assert response.status_code == 200
    other = await make_agent(app, scopes=["use_agent"])
    mismatched = await delegate(
        client, other, user_pair["accessToken"], actor_token=own, actor_token_type=ACCESS_TYPE
    )
    assert mismatched.json()["error"] == "invalid_grant"


async def test_disabling_an_agent_revokes_its_tokens(
    app: FastAPI, client: httpx.AsyncClient, user_pair: dict[str, Any]
) -> None:
    agent = await make_agent(app, scopes=["use_agent"])
    own = (await client_credentials(client, agent)).json()["access_token"]
    delegated = (await delegate(client, agent, user_pair["accessToken"])).json()["access_token"]
    runtime = app.state.authgate
    await runtime.clients.disable(agent[0])
    assert await runtime.auth.revoke_agent(agent[0]) == 2
    for token in (own, delegated):
        assert (await chat(client, token)).status_code == 401
    assert (await client_credentials(client, agent)).json()["error"] == "invalid_client"


async def test_audit_records_agent_and_user(
    app: FastAPI, client: httpx.AsyncClient, user_pair: dict[str, Any]
) -> None:
    agent = await make_agent(app, scopes=["use_agent"])
    await delegate(client, agent, user_pair["accessToken"])
    events = await app.state.authgate.store.recent_audit(limit=5, event="delegation.created")
    assert events[0].user_id == user_pair["user"]["id"]
    assert events[0].detail["actor"] == agent[0]


# private_key_jwt (RFC 7523)


@pytest.fixture
async def keyed_agent(app: FastAPI, user_pair: dict[str, Any]) -> tuple[str, ECKey]:
    key = ECKey.generate_key("P-256")
    agent_id, _ = await make_agent(app, scopes=["use_agent"])
    public = {**key.as_dict(private=False), "kid": "agent-key-1", "alg": "ES256"}
    await app.state.authgate.clients.set_jwks(agent_id, {"keys": [public]})
    return agent_id, key


def assertion(agent_id: str, key: Any, **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": agent_id,
        "sub": agent_id,
        "aud": "http://127.0.0.1:8000/oauth2/token",
        "iat": now,
        "exp": now + 60,
        "jti": str(uuid.uuid4()),
        **overrides,
    }
    header = {"alg": "ES256", "kid": "agent-key-1"}
    return jose_jwt.encode(header, claims, key, algorithms=["ES256"])


async def with_assertion(client: httpx.AsyncClient, signed: str) -> httpx.Response:
    return await client.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": signed,
        },
    )


async def test_private_key_jwt_authenticates_once(
    client: httpx.AsyncClient, keyed_agent: tuple[str, ECKey]
) -> None:
    signed = assertion(*keyed_agent)
    first = await with_assertion(client, signed)
    assert first.status_code == 200, first.text
    replay = await with_assertion(client, signed)
    assert replay.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"aud": "https://elsewhere.example/token"}, id="wrong-aud"),
        pytest.param({"exp": int(time.time()) - 120}, id="expired"),
        pytest.param({"exp": int(time.time()) + 86400}, id="too-long-lived"),
        pytest.param({"iss": "someone-else"}, id="iss-not-client"),
        pytest.param({"jti": 7}, id="jti-not-string"),
    ],
)
async def test_private_key_jwt_claims_are_checked(
    client: httpx.AsyncClient, keyed_agent: tuple[str, ECKey], overrides: dict[str, Any]
) -> None:
    response = await with_assertion(client, assertion(*keyed_agent, **overrides))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_private_key_jwt_signed_by_another_key_is_refused(
    client: httpx.AsyncClient, keyed_agent: tuple[str, ECKey]
) -> None:
    response = await with_assertion(client, assertion(keyed_agent[0], ECKey.generate_key("P-256")))
    assert response.json()["error"] == "invalid_client"


async def test_private_key_jwt_with_hmac_is_refused(
    client: httpx.AsyncClient, keyed_agent: tuple[str, ECKey]
) -> None:
    now = int(time.time())
    agent_id = keyed_agent[0]
    claims = {
        "iss": agent_id,
        "sub": agent_id,
        "aud": "http://127.0.0.1:8000/oauth2/token",
        "iat": now,
        "exp": now + 60,
        "jti": "x",
    }
    signed = jwt.encode(claims, "x" * 32, algorithm="HS256", headers={"kid": "agent-key-1"})
    response = await with_assertion(client, signed)
    assert response.json()["error"] == "invalid_client"
