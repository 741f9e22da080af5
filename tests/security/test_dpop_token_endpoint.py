"""DPoP end to end through ``POST /oauth2/token`` (RFC 9449 s5, s6, s7, s8).

An agent proves its key at the token endpoint, gets a ``token_type: DPoP`` token bound
to that key (``cnf.jkt``), and must prove the key again on every resource request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from authgate.http.app import create_app
from authgate.testing import FrozenClock, client_for, lifespan
from tests.conftest import bearer, login, register
from tests.security.dpop_support import (
    CHAT_URL,
    ProofKey,
    b64_json,
    dpop,
    dpop_settings_factory,  # noqa: F401 - fixture
)

TOKEN_URL = "http://testserver/oauth2/token"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TYPE = "urn:ietf:params:oauth:token-type:access_token"


async def make_agent(app: FastAPI, *, dpop_required: bool = False) -> tuple[str, str]:
    runtime = app.state.authgate
    owner = await runtime.store.user_by_email("ada@example.com")
    created = await runtime.clients.create(
        name="dpop bot",
        kind="agent",
        scopes=["use_agent"],
        owner_user_id=owner.id,
        dpop_required=dpop_required,
    )
    await runtime.consents.grant(
        user_id=owner.id, agent_id=created.client.client_id, scopes=["use_agent"], max_ttl=3600
    )
    return created.client.client_id, created.secret


async def token_request(
    client: httpx.AsyncClient, agent: tuple[str, str], proof: str | None, **form: str
) -> httpx.Response:
    headers = {} if proof is None else {"DPoP": proof}
    data = {"grant_type": "client_credentials", **form}
    return await client.post("/oauth2/token", data=data, auth=agent, headers=headers)


async def chat(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await client.post("/api/ai/chat", json={"message": "hi"}, headers=headers)


@pytest.fixture
async def agent(app: FastAPI, client: httpx.AsyncClient) -> tuple[str, str]:
    await register(client)
    return await make_agent(app)


async def test_agent_gets_a_dpop_bound_token_and_uses_it(
    client: httpx.AsyncClient, clock: FrozenClock, agent: tuple[str, str]
) -> None:
    key = ProofKey("EdDSA")
    issued = await token_request(
        client, agent, key.proof(iat=clock.now, htu=TOKEN_URL), scope="use_agent"
    )
    assert issued.status_code == 200, issued.text
    body = issued.json()
    assert body["token_type"] == "DPoP"  # s5
    token = body["access_token"]
    assert jwt.decode(token, options={"verify_signature": False})["cnf"] == {"jkt": key.jkt}
    ok = await chat(client, dpop(token, key.proof(iat=clock.now, token=token)))
    assert ok.status_code == 200, ok.text
    assert ok.json()["user"]["id"] == f"agent:{agent[0]}"


async def test_stolen_agent_token_is_useless_without_the_key(
    client: httpx.AsyncClient, clock: FrozenClock, agent: tuple[str, str]
) -> None:
    key = ProofKey()
    issued = await token_request(client, agent, key.proof(iat=clock.now, htu=TOKEN_URL))
    token = issued.json()["access_token"]
    thief = ProofKey()
    with_own_key = await chat(client, dpop(token, thief.proof(iat=clock.now, token=token)))
    as_bearer = await chat(client, bearer(token))
    assert with_own_key.status_code == 401
    assert 'error="invalid_dpop_proof"' in with_own_key.headers["www-authenticate"]
    assert as_bearer.status_code == 401
    assert with_own_key.headers["www-authenticate"].startswith("DPoP ")


def _alg_none(key: ProofKey, now: float) -> str:
    header = {"typ": "dpop+jwt", "alg": "none", "jwk": key.public_jwk}
    claims = {"jti": "t1", "htm": "POST", "htu": TOKEN_URL, "iat": int(now)}
    return f"{b64_json(header)}.{b64_json(claims)}."


TokenProof = Callable[[ProofKey, float], str]


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda k, now: k.proof(iat=now, htu=CHAT_URL), id="htu-of-a-resource"),
        pytest.param(lambda k, now: k.proof(iat=now, htu=TOKEN_URL, htm="GET"), id="htm-get"),
        pytest.param(lambda k, now: k.proof(iat=now - 600, htu=TOKEN_URL), id="iat-too-old"),
        pytest.param(_alg_none, id="alg-none"),
        pytest.param(
            lambda k, now: k.proof(iat=now, htu=TOKEN_URL, header={"typ": "JWT"}), id="typ"
        ),
    ],
)
async def test_bad_proof_at_the_token_endpoint_is_a_400(
    client: httpx.AsyncClient, clock: FrozenClock, agent: tuple[str, str], make: TokenProof
) -> None:
    response = await token_request(client, agent, make(ProofKey(), clock.now))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_dpop_proof"
    assert response.headers["cache-control"] == "no-store"


async def test_replayed_token_request_proof_is_refused(
    client: httpx.AsyncClient, clock: FrozenClock, agent: tuple[str, str]
) -> None:
    proof = ProofKey().proof(iat=clock.now, htu=TOKEN_URL)
    assert (await token_request(client, agent, proof)).status_code == 200
    again = await token_request(client, agent, proof)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_dpop_proof"


async def test_agent_that_must_use_dpop_gets_no_bearer_token(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    await register(client)
    agent = await make_agent(app, dpop_required=True)
    without = await token_request(client, agent, None)
    with_proof = await token_request(client, agent, ProofKey().proof(iat=clock.now, htu=TOKEN_URL))
    assert without.status_code == 400
    assert "access_token" not in without.json()
    assert with_proof.status_code == 200
    assert with_proof.json()["token_type"] == "DPoP"


async def test_delegated_token_can_be_bound_to_the_agent_key(
    client: httpx.AsyncClient, clock: FrozenClock, agent: tuple[str, str]
) -> None:
    user = await login(client)
    key = ProofKey()
    data = {
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": user["accessToken"],
        "subject_token_type": ACCESS_TYPE,
    }
    proof = key.proof(iat=clock.now, htu=TOKEN_URL)
    issued = await client.post("/oauth2/token", data=data, auth=agent, headers={"DPoP": proof})
    assert issued.status_code == 200, issued.text
    token = issued.json()["access_token"]
    assert issued.json()["token_type"] == "DPoP"
    ok = await chat(client, dpop(token, key.proof(iat=clock.now, token=token)))
    assert ok.status_code == 200
    assert (await chat(client, bearer(token))).status_code == 401


@pytest.fixture
async def nonce_app(
    settings_factory: Callable[..., Any], clock: FrozenClock
) -> AsyncIterator[FastAPI]:
    application = create_app(settings_factory(dpop_nonce_required=True), clock=clock)
    async with lifespan(application):
        yield application


async def test_server_nonce_flow_at_token_endpoint_and_resource(
    nonce_app: FastAPI, clock: FrozenClock
) -> None:
    """s8 then s9: each side answers use_dpop_nonce with a DPoP-Nonce; the retry works."""
    key = ProofKey()
    async with client_for(nonce_app) as client:
        await register(client)
        agent = await make_agent(nonce_app)
        first = await token_request(client, agent, key.proof(iat=clock.now, htu=TOKEN_URL))
        assert first.status_code == 400
        assert first.json()["error"] == "use_dpop_nonce"
        nonce = first.headers["dpop-nonce"]
        retry = await token_request(
            client, agent, key.proof(iat=clock.now, htu=TOKEN_URL, nonce=nonce)
        )
        assert retry.status_code == 200, retry.text
        token = retry.json()["access_token"]

        no_nonce = await chat(client, dpop(token, key.proof(iat=clock.now, token=token)))
        assert no_nonce.status_code == 401
        assert 'error="use_dpop_nonce"' in no_nonce.headers["www-authenticate"]
        fresh = no_nonce.headers["dpop-nonce"]
        ok = await chat(client, dpop(token, key.proof(iat=clock.now, token=token, nonce=fresh)))
        assert ok.status_code == 200, ok.text


async def test_introspection_tells_the_resource_server_the_bound_key(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock, agent: tuple[str, str]
) -> None:
    """RFC 9449 s6.2: introspecting a DPoP-bound token returns its cnf.jkt."""
    key = ProofKey()
    issued = await token_request(client, agent, key.proof(iat=clock.now, htu=TOKEN_URL))
    plain = await token_request(client, agent, None)
    created = await app.state.authgate.clients.create(
        name="tool server", kind="resource_server", scopes=["introspect"]
    )
    rs = (created.client.client_id, created.secret)
    bound_info = await client.post(
        "/oauth2/introspect", data={"token": issued.json()["access_token"]}, auth=rs
    )
    plain_info = await client.post(
        "/oauth2/introspect", data={"token": plain.json()["access_token"]}, auth=rs
    )
    assert bound_info.json()["active"] is True
    assert bound_info.json()["token_type"] == "DPoP"
    assert bound_info.json()["cnf"] == {"jkt": key.jkt}
    assert plain_info.json()["token_type"] == "Bearer"
    assert "cnf" not in plain_info.json()
