"""The CIBA grant at /oauth2/token (OpenID CIBA Core 1.0 s10.1, s11) and its token.

Every error the grant can answer has its case: authorization_pending, slow_down,
access_denied, expired_token, and invalid_grant for an unknown, reused or another
agent's auth_req_id.
"""

from __future__ import annotations

from typing import Any

import httpx
import jwt
from fastapi import FastAPI

from authgate.testing import FrozenClock
from tests.authserver.conftest import ResourceServer, introspect
from tests.ciba.conftest import PAY, Agent, approve_only, ask, make_agent, poll, tool_call


def claims_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


async def start(client: httpx.AsyncClient, agent: Agent, **form: str) -> str:
    asked = await ask(client, agent, **form)
    assert asked.status_code == 200, asked.text
    assert asked.headers["cache-control"] == "no-store"
    return str(asked.json()["auth_req_id"])


def error_of(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    return str(response.json()["error"])


async def test_bc_authorize_answers_auth_req_id_expires_in_and_interval(
    client: httpx.AsyncClient, agent: Agent
) -> None:
    """CIBA s7.3: the three members; the id carries at least 128 bits (here 256)."""
    asked = await ask(client, agent)
    body = asked.json()
    assert set(body) == {"auth_req_id", "expires_in", "interval"}
    assert len(body["auth_req_id"]) >= 43
    assert body["expires_in"] == 300
    assert body["interval"] == 5


async def test_poll_until_approved_then_one_token_carrying_the_details(
    app: FastAPI,
    client: httpx.AsyncClient,
    agent: Agent,
    ada: dict[str, Any],
    pay: ResourceServer,
    clock: FrozenClock,
) -> None:
    auth_req_id = await start(client, agent)
    assert error_of(await poll(client, agent, auth_req_id)) == "authorization_pending"
    clock.advance(5)
    assert error_of(await poll(client, agent, auth_req_id)) == "authorization_pending"
    await approve_only(app)
    clock.advance(5)
    got = await poll(client, agent, auth_req_id)
    assert got.status_code == 200, got.text
    assert got.headers["cache-control"] == "no-store"
    body = got.json()
    assert body["token_type"] == "Bearer"
    assert "refresh_token" not in body
    assert body["authorization_details"] == [tool_call()]  # RFC 9396 s7
    assert body["expires_in"] == 120  # AUTHGATE_APPROVAL_TOKEN_TTL
    claims = claims_of(body["access_token"])
    assert jwt.get_unverified_header(body["access_token"])["typ"] == "at+jwt"
    assert claims["aud"] == PAY
    assert claims["sub"] == ada["id"]
    assert claims["client_id"] == agent.client_id
    assert claims["scope"] == "pay"
    assert claims["authorization_details"] == [tool_call()]
    assert "cnf" not in claims
    info = await introspect(client, pay, body["access_token"])
    assert info["active"] is True
    assert info["authorization_details"] == [tool_call()]  # RFC 9396 s9.2
    # CIBA s10.1: the auth_req_id is spent.
    assert error_of(await poll(client, agent, auth_req_id)) == "invalid_grant"


async def test_polling_faster_than_the_interval_is_slow_down_and_the_interval_grows(
    client: httpx.AsyncClient, agent: Agent, clock: FrozenClock
) -> None:
    """CIBA s11 slow_down: the interval grows by 5 s for this and later requests."""
    auth_req_id = await start(client, agent)
    assert error_of(await poll(client, agent, auth_req_id)) == "authorization_pending"
    clock.advance(2)
    assert error_of(await poll(client, agent, auth_req_id)) == "slow_down"
    clock.advance(5)  # 5 s is no longer enough: the interval is now 10 s
    assert error_of(await poll(client, agent, auth_req_id)) == "slow_down"
    clock.advance(15)  # patient again: 15 s since the last poll, interval 15
    assert error_of(await poll(client, agent, auth_req_id)) == "authorization_pending"


async def test_denied_request_is_access_denied(
    app: FastAPI, client: httpx.AsyncClient, agent: Agent, ada: dict[str, Any]
) -> None:
    auth_req_id = await start(client, agent)
    approvals = app.state.authgate.approvals
    (pending,) = await approvals.pending_for(ada["id"])
    await approvals.deny(pending.id, user_id=ada["id"])
    assert error_of(await poll(client, agent, auth_req_id)) == "access_denied"


async def test_expired_request_is_expired_token_and_audited_once(
    app: FastAPI, client: httpx.AsyncClient, agent: Agent, clock: FrozenClock
) -> None:
    auth_req_id = await start(client, agent, requested_expiry="30")
    clock.advance(30)
    assert error_of(await poll(client, agent, auth_req_id)) == "expired_token"
    clock.advance(10)
    assert error_of(await poll(client, agent, auth_req_id)) == "expired_token"
    metrics = app.state.authgate.metrics
    assert metrics.approvals.labels("expired")._value.get() == 1


async def test_approved_but_collected_too_late_is_expired_token(
    app: FastAPI, client: httpx.AsyncClient, agent: Agent, clock: FrozenClock
) -> None:
    auth_req_id = await start(client, agent, requested_expiry="30")
    await approve_only(app)
    clock.advance(31)
    assert error_of(await poll(client, agent, auth_req_id)) == "expired_token"


async def test_unknown_auth_req_id_is_invalid_grant(
    client: httpx.AsyncClient, agent: Agent
) -> None:
    assert error_of(await poll(client, agent, "not-a-request-id")) == "invalid_grant"
    missing = await client.post(
        "/oauth2/token", data={"grant_type": "urn:openid:params:grant-type:ciba"}, auth=agent.auth
    )
    assert error_of(missing) == "invalid_request"


async def test_another_agent_cannot_use_someone_elses_auth_req_id(
    app: FastAPI, client: httpx.AsyncClient, agent: Agent, clock: FrozenClock
) -> None:
    """CIBA s11: an auth_req_id issued to another client is invalid_grant, even once the
    user approved; the rightful agent still gets its token."""
    thief = await make_agent(app)
    auth_req_id = await start(client, agent)
    await approve_only(app)
    assert error_of(await poll(client, thief, auth_req_id)) == "invalid_grant"
    got = await poll(client, agent, auth_req_id)
    assert got.status_code == 200, got.text


async def test_withdrawn_delegation_after_approval_is_access_denied(
    app: FastAPI, client: httpx.AsyncClient, agent: Agent, ada: dict[str, Any]
) -> None:
    auth_req_id = await start(client, agent)
    await approve_only(app)
    runtime = app.state.authgate
    consent = await runtime.consents.get(ada["id"], agent.client_id)
    await runtime.consents.withdraw(user_id=ada["id"], consent_id=consent.id)
    assert error_of(await poll(client, agent, auth_req_id)) == "access_denied"


async def test_only_agents_use_the_grant(
    client: httpx.AsyncClient, agent: Agent, pay: ResourceServer
) -> None:
    auth_req_id = await start(client, agent)
    response = await client.post(
        "/oauth2/token",
        data={"grant_type": "urn:openid:params:grant-type:ciba", "auth_req_id": auth_req_id},
        auth=pay.auth,
    )
    assert error_of(response) == "unauthorized_client"


async def test_audit_trail_of_one_approval(
    app: FastAPI, client: httpx.AsyncClient, agent: Agent, ada: dict[str, Any]
) -> None:
    auth_req_id = await start(client, agent)
    await approve_only(app)
    assert (await poll(client, agent, auth_req_id)).status_code == 200
    metrics = app.state.authgate.metrics
    for outcome in ("requested", "approved", "token_issued"):
        assert metrics.approvals.labels(outcome)._value.get() == 1, outcome


async def test_metadata_announces_ciba_and_the_details_types(
    client: httpx.AsyncClient, pay: ResourceServer
) -> None:
    """CIBA s4 and RFC 9396 s10."""
    metadata = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert metadata["backchannel_authentication_endpoint"].endswith("/oauth2/bc-authorize")
    assert metadata["backchannel_token_delivery_modes_supported"] == ["poll", "ping"]
    assert metadata["backchannel_user_code_parameter_supported"] is False
    assert metadata["authorization_details_types_supported"] == ["tool_call"]
    assert "urn:openid:params:grant-type:ciba" in metadata["grant_types_supported"]
