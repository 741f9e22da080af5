"""An agent that sends DPoP at the token endpoint gets a DPoP-bound approval token
(RFC 9449 s5, s6.1: ``cnf.jkt``); one required to use DPoP cannot do without."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from authgate.testing import FrozenClock
from tests.authserver.conftest import ResourceServer
from tests.ciba.conftest import Agent, approve_only, ask, make_agent, poll
from tests.security.dpop_support import ProofKey

TOKEN_URL = "http://testserver/oauth2/token"


@pytest.fixture
def settings(settings_factory: Callable[..., Any]) -> Any:
    # DPoP proofs name the configured public URL (RFC 9449 s4.3 step 9).
    return settings_factory(public_url="http://testserver")


async def approved(app: FastAPI, client: httpx.AsyncClient, agent: Agent) -> str:
    asked = await ask(client, agent)
    await approve_only(app)
    return str(asked.json()["auth_req_id"])


async def test_dpop_at_the_token_endpoint_binds_the_approval_token(
    app: FastAPI, client: httpx.AsyncClient, agent: Agent, clock: FrozenClock
) -> None:
    auth_req_id = await approved(app, client, agent)
    key = ProofKey()
    got = await poll(client, agent, auth_req_id, DPoP=key.proof(iat=clock.now, htu=TOKEN_URL))
    assert got.status_code == 200, got.text
    assert got.json()["token_type"] == "DPoP"
    claims = jwt.decode(got.json()["access_token"], options={"verify_signature": False})
    assert claims["cnf"] == {"jkt": key.jkt}


async def test_a_bad_proof_gets_no_token_and_leaves_the_approval_unspent(
    app: FastAPI, client: httpx.AsyncClient, agent: Agent, clock: FrozenClock
) -> None:
    auth_req_id = await approved(app, client, agent)
    key = ProofKey()
    wrong_url = key.proof(iat=clock.now, htu="http://testserver/elsewhere")
    refused = await poll(client, agent, auth_req_id, DPoP=wrong_url)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_dpop_proof"
    got = await poll(client, agent, auth_req_id, DPoP=key.proof(iat=clock.now, htu=TOKEN_URL))
    assert got.status_code == 200, got.text


async def test_an_agent_registered_for_dpop_must_send_a_proof(
    app: FastAPI, client: httpx.AsyncClient, ada: dict[str, Any], pay: ResourceServer
) -> None:
    agent = await make_agent(app, dpop=True)
    auth_req_id = await approved(app, client, agent)
    refused = await poll(client, agent, auth_req_id)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_dpop_proof"
