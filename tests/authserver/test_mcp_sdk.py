"""End to end with the official ``mcp`` SDK (pinned in the test extra), unmodified.

Its ``OAuthClientProvider`` against an MCP SDK server on loopback that trusts authgate:
RFC 9728 discovery at the MCP server, RFC 8414 metadata at authgate, RFC 7591
registration, the authorization code flow with PKCE and ``resource`` (sign-in and
consent driven over HTTP by following authgate's pages), the token, a tool call that
sees the signed-in user, and a refresh without the browser (MCP authorization
2025-11-25, "Authorization Flow Steps" and "Token Handling").
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import httpx2
import pytest
from mcp.client.auth import OAuthClientProvider, TokenStorage
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)

from tests.authserver.flow import PASSWORD, Browser
from tests.authserver.servers import Authgate, authgate_server, mcp_server
from tests.processes import free_port

pytestmark = pytest.mark.e2e

EMAIL = "grace@example.com"
CALLBACK = "http://127.0.0.1:47999/callback"


class MemoryStorage(TokenStorage):
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Authgate, str, str]]:
    tmp = tmp_path_factory.mktemp("mcp")
    with authgate_server(tmp) as authgate:
        port = free_port()
        made = authgate.cli(
            "clients", "create", "--kind", "resource_server", "--name", "Notes MCP",
            "--resource", f"http://127.0.0.1:{port}/mcp", "--scope", "mcp:tools mcp:read",
            "--describe", "mcp:tools=Use the notes tools",
        )  # fmt: skip
        response = httpx.post(
            f"{authgate.url}/auth/register", json={"email": EMAIL, "password": PASSWORD}
        )
        assert response.status_code == 201, response.text
        user_id = response.json()["user"]["id"]
        with mcp_server(
            tmp, authgate.url, made["client_id"], made["client_secret"], port
        ) as resource:
            yield authgate, resource, user_id


def _provider(
    resource: str, storage: MemoryStorage, browsers: list[Browser], outcomes: list[Any]
) -> OAuthClientProvider:
    async def redirect_handler(url: str) -> None:
        assert browsers, "the browser was needed"
        outcomes.append(await browsers[0].authorize(url))

    async def callback_handler() -> AuthorizationCodeResult:
        params = outcomes[-1].params
        return AuthorizationCodeResult(
            code=params["code"], state=params["state"], iss=params["iss"]
        )

    metadata = OAuthClientMetadata(
        client_name="mcp sdk test client",
        redirect_uris=[CALLBACK],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
    )
    return OAuthClientProvider(
        server_url=resource,
        client_metadata=metadata,
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )


async def _whoami(resource: str, provider: OAuthClientProvider) -> str:
    async with (
        httpx2.AsyncClient(auth=provider, timeout=30) as http,
        streamable_http_client(resource, http_client=http) as (read, write, *_),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        result = await session.call_tool("whoami", {})
    assert not result.is_error, result
    return str(result.content[0].text)  # type: ignore[union-attr]


async def test_mcp_sdk_client_discovers_registers_signs_in_consents_calls_and_refreshes(
    stack: tuple[Authgate, str, str],
) -> None:
    authgate, resource, user_id = stack
    storage = MemoryStorage()
    outcomes: list[Any] = []
    browsers: list[Browser] = []
    provider = _provider(resource, storage, browsers, outcomes)
    async with httpx.AsyncClient(base_url=authgate.url, headers={"user-agent": "Firefox"}) as web:
        browsers.append(Browser(web, email=EMAIL))
        seen = await _whoami(resource, provider)
    assert seen.startswith(f"user={user_id} ")
    assert outcomes[0].pages == ["/login", "consent"]
    assert storage.client is not None
    assert storage.client.client_id.startswith("app_")
    assert storage.tokens is not None
    first = storage.tokens

    # The access token's lifetime passes (the client's own clock says so): the SDK
    # refreshes at authgate's token endpoint, and no browser is involved.
    browsers.clear()
    provider.context.token_expiry_time = 1.0  # 1970: long past
    again = await _whoami(resource, provider)
    assert again == seen
    assert storage.tokens.access_token != first.access_token
    assert storage.tokens.refresh_token not in (None, first.refresh_token)
    assert len(outcomes) == 1
