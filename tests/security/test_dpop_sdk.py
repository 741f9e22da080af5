"""The agent SDK's DPoP proofs against the server's verifier (interop, RFC 9449)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from authgate.http.app import create_app
from authgate.sdk.agent import AgentAuth, DPoPKey
from authgate.testing import FrozenClock, client_for, lifespan
from tests.conftest import bearer, register
from tests.security.dpop_support import dpop_settings_factory  # noqa: F401 - fixture
from tests.security.test_dpop_token_endpoint import make_agent

BASE = "http://testserver"


@pytest.fixture(params=[False, True], ids=["no-nonce", "nonce-required"])
async def server(
    request: pytest.FixtureRequest, settings_factory: Callable[..., Any], clock: FrozenClock
) -> AsyncIterator[FastAPI]:
    application = create_app(settings_factory(dpop_nonce_required=request.param), clock=clock)
    async with lifespan(application):
        yield application


async def test_sdk_gets_a_bound_token_and_calls_the_resource(
    server: FastAPI, clock: FrozenClock
) -> None:
    async with client_for(server) as plain:
        await register(plain)
    agent_id, secret = await make_agent(server)
    key = DPoPKey()
    transport = httpx.ASGITransport(app=server)
    auth = AgentAuth(
        base_url=BASE,
        client_id=agent_id,
        client_secret=secret,
        dpop_key=key,
        clock=clock,
        async_transport=transport,
    )
    async with httpx.AsyncClient(base_url=BASE, auth=auth, transport=transport) as http:
        for message in ("one", "two", "three"):
            response = await http.post("/api/ai/chat", json={"message": message})
            assert response.status_code == 200, response.text
    token = auth.access_token
    assert token is not None
    assert jwt.decode(token, options={"verify_signature": False})["cnf"] == {"jkt": key.thumbprint}
    async with client_for(server) as thief:
        stolen = await thief.post("/api/ai/chat", json={"message": "x"}, headers=bearer(token))
    assert stolen.status_code == 401
