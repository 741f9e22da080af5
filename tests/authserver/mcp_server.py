"""An MCP server (the official ``mcp`` SDK) that trusts authgate, for the end-to-end test.

Run as ``python -m tests.authserver.mcp_server PORT AUTHGATE_URL CLIENT_ID CLIENT_SECRET``.
It verifies bearer tokens with authgate's introspection endpoint (RFC 7662), as a
resource server registered with ``authgate clients create --kind resource_server``, and
accepts only tokens whose audience is its own URL (RFC 8707, RFC 9068 s4).
"""

from __future__ import annotations

import sys

import httpx
import uvicorn
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer


class IntrospectionVerifier:
    """The SDK's TokenVerifier protocol, answered by authgate's introspection endpoint."""

    def __init__(self, authgate: str, resource: str, client_id: str, secret: str) -> None:
        self._url = f"{authgate}/oauth2/introspect"
        self._resource = resource
        self._auth = (client_id, secret)

    async def verify_token(self, token: str) -> AccessToken | None:
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.post(self._url, data={"token": token}, auth=self._auth)
        info = response.json()
        if response.status_code != 200 or info.get("active") is not True:
            return None
        if info.get("aud") != self._resource:  # exactly this resource, nothing else
            return None
        return AccessToken(
            token=token,
            client_id=info["client_id"],
            scopes=info["scope"].split(),
            expires_at=info["exp"],
            resource=info["aud"],
            subject=info["sub"],
        )


def build(port: int, authgate: str, client_id: str, secret: str) -> MCPServer:
    resource = f"http://127.0.0.1:{port}/mcp"
    server = MCPServer(
        "notes",
        token_verifier=IntrospectionVerifier(authgate, resource, client_id, secret),
        auth=AuthSettings(
            issuer_url=authgate,
            resource_server_url=resource,
            required_scopes=["mcp:tools"],
            validate_token_resource=True,
        ),
    )

    @server.tool()
    def whoami() -> str:
        """Who the caller acts for: the authgate user the token names."""
        token = get_access_token()
        return (
            f"user={token.subject if token else None} client={token.client_id if token else None}"
        )

    return server


def main() -> None:
    port, authgate, client_id, secret = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    app = build(port, authgate, client_id, secret).streamable_http_app()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
