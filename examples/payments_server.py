"""A payments API and MCP server where sending money needs the user's yes for that payment.

`POST /payments` (FastAPI) and the MCP tool `send_payment` (the `mcp` SDK, at
`/mcp`) run only with an approval token (docs/approvals.md): one the user approved for
exactly this tool and these arguments, used once. `GET /payments` takes an ordinary
token with `payments:read` and refuses approval tokens. Register the resource with the
`tool_call` type, then run it beside authgate (EdDSA signing, see README "Protect a
service that runs elsewhere"):

    .venv/bin/authgate clients create --kind resource_server --name Payments \\
        --resource http://127.0.0.1:9200 --scope payments --scope payments:read \\
        --authorization-details-type tool_call
    AUTHGATE_URL=http://127.0.0.1:8000 PAYMENTS_URL=http://127.0.0.1:9200 \\
    PAYMENTS_CLIENT_ID=... PAYMENTS_CLIENT_SECRET=... python examples/payments_server.py

The MCP endpoint is a resource of its own (`PAYMENTS_URL` + `/mcp`), registered the same
way with `--scope mcp:tools`, its credentials in PAYMENTS_MCP_CLIENT_ID and
PAYMENTS_MCP_CLIENT_SECRET (optional: without them only the HTTP API runs).
Needs `pip install 'authgate[mcp]'` for the MCP part.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from fastapi import Depends, FastAPI

from authgate.resource import Access, ResourceServer
from authgate.resource.approvals import Approval
from authgate.resource.web import install, require_approval, require_scope

LEDGER: list[dict[str, Any]] = []  # what was paid, in memory: an example, not a bank


def pay(arguments: Any, approval: Approval) -> dict[str, Any]:
    entry = {
        "payment_id": secrets.token_hex(8),
        "amount": arguments["amount"],
        "currency": arguments["currency"],
        "to": arguments["to"],
        "approved_by": approval.access.subject,
        "agent": approval.access.client_id,
    }
    LEDGER.append(entry)
    return entry


def resource_server(url: str, prefix: str, scopes: list[str]) -> ResourceServer:
    return ResourceServer(
        issuer=os.environ.get("AUTHGATE_URL", "http://127.0.0.1:8000"),
        resource=url,
        client_id=os.environ[f"{prefix}_CLIENT_ID"],
        client_secret=os.environ[f"{prefix}_CLIENT_SECRET"],
        scopes_supported=scopes,
        authorization_details_types=["tool_call"],
    )


def mcp_app(rs: ResourceServer) -> Any:
    """The MCP face: `send_payment` behind ApprovalGate, `balance` for ordinary tokens."""
    from mcp.server.auth.settings import AuthSettings
    from mcp.server.mcpserver import MCPServer

    from authgate.resource.mcp import ApprovalGate, AuthgateTokenVerifier, approved_call

    server = MCPServer(
        "payments",
        token_verifier=AuthgateTokenVerifier(rs),
        auth=AuthSettings(
            issuer_url=rs.issuer,
            resource_server_url=rs.resource,
            required_scopes=["mcp:tools"],
            validate_token_resource=True,
        ),
    )

    @server.tool()
    async def send_payment(amount: int, currency: str, to: str) -> dict[str, Any]:
        """Send a payment; needs the user's approval of exactly this payment."""
        approval = approved_call()
        if approval is None:  # ApprovalGate refuses before this; never pay without one
            raise PermissionError("no approval")
        return pay(approval.arguments, approval)

    @server.tool()
    async def payments_made() -> int:
        """How many payments this server made."""
        return len(LEDGER)

    app = server.streamable_http_app(
        streamable_http_path="/mcp", stateless_http=True, json_response=True
    )
    gate = ApprovalGate(app, resource_server=rs, tools=["send_payment"], scopes=["mcp:tools"])
    return app, gate


def build_app() -> Any:
    url = os.environ.get("PAYMENTS_URL", "http://127.0.0.1:9200")
    rs = resource_server(url, "PAYMENTS", ["payments", "payments:read"])
    mcp_rs = None
    if os.environ.get("PAYMENTS_MCP_CLIENT_ID"):
        mcp_rs = resource_server(f"{url}/mcp", "PAYMENTS_MCP", ["mcp:tools"])
        mcp_inner, mcp_gate = mcp_app(mcp_rs)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for server in (rs, mcp_rs):
                if server is not None:
                    await server.start()
                    stack.push_async_callback(server.aclose)
            if mcp_rs is not None:  # the SDK's session manager runs in its lifespan
                await stack.enter_async_context(mcp_inner.router.lifespan_context(mcp_inner))
            yield

    app = FastAPI(title="payments", lifespan=lifespan)
    install(app, rs)

    @app.post("/payments")
    async def send_payment(
        approval: Approval = Depends(require_approval(tool="send_payment", scopes=["payments"])),
    ) -> dict[str, Any]:
        # Act on approval.arguments: the exact object whose hash the user approved.
        return pay(approval.arguments, approval)

    @app.get("/payments")
    async def payments(access: Access = Depends(require_scope("payments:read"))) -> dict[str, Any]:
        return {"payments": [p for p in LEDGER if p["approved_by"] == access.subject]}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    if mcp_rs is None:
        return app

    async def dispatch(scope: Any, receive: Any, send: Any) -> None:
        # /mcp and its RFC 9728 metadata go to the MCP app, whole paths unchanged.
        path = scope.get("path", "")
        mcp = path == "/mcp" or path.startswith("/mcp/") or path.endswith("-resource/mcp")
        await (mcp_gate if scope["type"] == "http" and mcp else app)(scope, receive, send)

    return dispatch


def main() -> None:
    # Several instances behind one public URL each listen on their own PAYMENTS_PORT.
    url = urlsplit(os.environ.get("PAYMENTS_URL", "http://127.0.0.1:9200"))
    port = int(os.environ.get("PAYMENTS_PORT") or url.port or 9200)
    uvicorn.run(build_app(), host=url.hostname or "127.0.0.1", port=port)


if __name__ == "__main__":
    main()
