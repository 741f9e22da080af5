"""An MCP server (the `mcp` SDK, streamable HTTP) protected by authgate.

Its tools read who is calling and with which scopes. Tokens must be for this server
(`aud` = MCP_URL, RFC 8707) and carry `mcp:tools`; the SDK serves the RFC 9728
metadata and answers 401/403 with `WWW-Authenticate`. With `make run` serving authgate
(EdDSA signing, see README "Protect a service that runs elsewhere"):

    AUTHGATE_URL=http://127.0.0.1:8000 MCP_URL=http://127.0.0.1:9100/mcp \\
    MCP_CLIENT_ID=... MCP_CLIENT_SECRET=... python examples/mcp_server.py

Needs `pip install 'authgate[mcp]'`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette

from authgate.resource import ResourceServer
from authgate.resource.mcp import AuthgateTokenVerifier


def build_app() -> Starlette:
    rs = ResourceServer(
        issuer=os.environ.get("AUTHGATE_URL", "http://127.0.0.1:8000"),
        resource=os.environ.get("MCP_URL", "http://127.0.0.1:9100/mcp"),
        client_id=os.environ["MCP_CLIENT_ID"],
        client_secret=os.environ["MCP_CLIENT_SECRET"],
        scopes_supported=["mcp:tools"],
        max_staleness=float(os.environ.get("MCP_MAX_STALENESS", "30")),
    )
    url = urlsplit(rs.resource)
    server = MCPServer(
        "notes",
        token_verifier=AuthgateTokenVerifier(rs),
        auth=AuthSettings(
            issuer_url=rs.issuer,
            resource_server_url=rs.resource,
            required_scopes=["mcp:tools"],
            validate_token_resource=True,
        ),
    )

    @server.tool()
    def whoami() -> dict[str, Any]:
        """Who is calling, for whom, and with which scopes."""
        token = get_access_token()
        if token is None:  # the SDK refused the request before the tool ran
            return {}
        return {"subject": token.subject, "client_id": token.client_id, "scopes": token.scopes}

    app = server.streamable_http_app(
        streamable_http_path=url.path or "/mcp",
        stateless_http=True,
        json_response=True,
        host=url.hostname or "127.0.0.1",
    )
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(starlette: Starlette) -> AsyncIterator[None]:
        # The verifier (metadata, keys, revocation feed) lives as long as the server.
        await rs.start()
        try:
            async with inner(starlette):
                yield
        finally:
            await rs.aclose()

    app.router.lifespan_context = lifespan
    return app


def main() -> None:
    url = urlsplit(os.environ.get("MCP_URL", "http://127.0.0.1:9100/mcp"))
    uvicorn.run(build_app(), host=url.hostname or "127.0.0.1", port=url.port or 9100)


if __name__ == "__main__":
    main()
