"""An authgate app with a resource that takes ``tool_call`` approvals, a user, and an
agent the user delegated to (docs/ciba.md)."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from authgate.agents.registry import CibaRegistration
from tests.authserver.conftest import ResourceServer, make_resource
from tests.conftest import register

CIBA = "urn:openid:params:grant-type:ciba"
PAY = "https://pay.example.com/mcp"
EMAIL = "ada@example.com"


def arguments_sha256(arguments: dict[str, Any]) -> str:
    """The contract's hash (base64url SHA-256 of the JCS form); these arguments are
    flat ASCII, for which sorted compact JSON is the RFC 8785 form."""
    canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


def tool_call(resource: str = PAY, **overrides: Any) -> dict[str, Any]:
    entry = {
        "type": "tool_call",
        "resource": resource,
        "tool": "send_payment",
        "arguments_sha256": arguments_sha256({"amount": "40", "to": "ACME"}),
        "summary": "Pay 40 EUR to ACME",
    }
    entry.update(overrides)
    return {k: v for k, v in entry.items() if v != "<omit>"}


@dataclass
class Agent:
    client_id: str
    secret: str

    @property
    def auth(self) -> tuple[str, str]:
        return (self.client_id, self.secret)


async def make_agent(
    app: FastAPI,
    *,
    owner: str = EMAIL,
    consent_of: str | None = EMAIL,
    backchannel: CibaRegistration | None = None,
    dpop: bool = False,
) -> Agent:
    runtime = app.state.authgate
    user = await runtime.store.user_by_email(owner)
    created = await runtime.clients.create(
        name="Pay bot",
        kind="agent",
        scopes=["use_agent"],
        owner_user_id=user.id,
        backchannel=backchannel,
        dpop_required=dpop,
    )
    if consent_of is not None:
        delegator = await runtime.store.user_by_email(consent_of)
        await runtime.consents.grant(
            user_id=delegator.id,
            agent_id=created.client.client_id,
            scopes=["use_agent"],
            max_ttl=3600,
        )
    return Agent(created.client.client_id, created.secret)


async def ask(
    client: httpx.AsyncClient, agent: Agent, *, details: Any = None, **form: str
) -> httpx.Response:
    data = {
        "login_hint": EMAIL,
        "binding_message": "Pay 40 EUR to ACME (W7K)",
        "scope": "pay",
        "authorization_details": json.dumps([tool_call()] if details is None else details),
        **form,
    }
    data = {k: v for k, v in data.items() if v != "<omit>"}
    return await client.post("/oauth2/bc-authorize", data=data, auth=agent.auth)


async def poll(
    client: httpx.AsyncClient, agent: Agent, auth_req_id: str, **headers: str
) -> httpx.Response:
    return await client.post(
        "/oauth2/token",
        data={"grant_type": CIBA, "auth_req_id": auth_req_id},
        auth=agent.auth,
        headers=headers,
    )


async def approve_only(app: FastAPI, user_email: str = EMAIL) -> str:
    """The user approves their single pending request (the page's call); its id."""
    runtime = app.state.authgate
    user = await runtime.store.user_by_email(user_email)
    (pending,) = await runtime.approvals.pending_for(user.id)
    await runtime.approvals.approve(pending.id, user_id=user.id)
    return str(pending.id)


@pytest.fixture
async def pay(app: FastAPI) -> ResourceServer:
    return await make_resource(
        app,
        url=PAY,
        name="Payments",
        scopes=["pay", "read"],
        descriptions={},
        authorization_details_types=["tool_call"],
    )


@pytest.fixture
async def ada(client: httpx.AsyncClient) -> dict[str, Any]:
    return await register(client)


@pytest.fixture
async def agent(app: FastAPI, ada: dict[str, Any], pay: ResourceServer) -> Agent:
    return await make_agent(app)
