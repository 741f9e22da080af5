"""authgate itself, in process, as the issuer of approvals for the resource tests.

A real app (EdDSA keys, the CIBA endpoints, the redeem endpoint) reached through
``httpx.ASGITransport``. Approval tokens come from the real flow: the agent asks at
``/oauth2/bc-authorize``, the user approves through ``runtime.approvals``, the agent
fetches the token with the CIBA grant. Tokens the flow would never issue (an entry for
another resource, malformed details, no approval) are signed by authgate's own
``ResourceTokens``. ``Wire`` counts the redemptions a resource server attempts and can
answer them with a failure instead, to test failing closed.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

from authgate.sdk.agent import DPoPKey
from tests.ciba.conftest import Agent, approve_only, ask, poll

ISSUER = "http://testserver"
RESOURCE = "https://pay.example.com/mcp"
REDEEM = "/oauth2/approvals/redeem"


class Wire(httpx.AsyncBaseTransport):
    def __init__(self, app: FastAPI) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.redemptions = 0
        self.status: int | None = None  # answer redemptions with this instead

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == REDEEM:
            self.redemptions += 1
            if self.status is not None:
                return httpx.Response(self.status, json={"error": "server_error"})
        return await self.inner.handle_async_request(request)


@dataclass
class Issuer:
    app: FastAPI
    client: httpx.AsyncClient
    agent: Agent
    user_id: str
    resource_client: tuple[str, str] = ("", "")
    wire: Wire = field(init=False)

    def __post_init__(self) -> None:
        self.wire = Wire(self.app)

    @property
    def redemptions(self) -> int:
        return self.wire.redemptions

    @property
    def status(self) -> int | None:
        return self.wire.status

    @status.setter
    def status(self, value: int | None) -> None:
        self.wire.status = value

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.wire, base_url=ISSUER)

    async def approved(self, details: list[dict[str, Any]], *, dpop: DPoPKey | None = None) -> str:
        """The real flow: ask, the user approves, the agent fetches the approval token."""
        asked = await ask(self.client, self.agent, details=details)
        assert asked.status_code == 200, asked.text
        await approve_only(self.app)
        headers = {"DPoP": dpop.proof("POST", f"{ISSUER}/oauth2/token")} if dpop else {}
        got = await poll(self.client, self.agent, asked.json()["auth_req_id"], **headers)
        assert got.status_code == 200, got.text
        return str(got.json()["access_token"])

    def mint(self, *, resource: str = RESOURCE, **claims: Any) -> str:
        """A token signed by authgate's ResourceTokens, outside the approval flow."""
        tokens = self.app.state.authgate.authserver.tokens
        issued = tokens.issue(
            user_id=self.user_id,
            client_id=self.agent.client_id,
            resource=resource,
            scopes=["pay"],
            session_id=secrets.token_urlsafe(8),
            jkt=None,
            not_after=2**31,
            authorization_details=claims.get("authorization_details"),
        )
        return str(issued.token)
