"""``ResourceServer`` for the ``mcp`` SDK: its ``TokenVerifier``, and tool calls that need
the user's approval of exactly that call (issue 17).

    rs = ResourceServer(issuer=..., resource="http://127.0.0.1:9100/mcp", ...)
    server = MCPServer("pay", token_verifier=AuthgateTokenVerifier(rs),
                       auth=AuthSettings(issuer_url=rs.issuer, resource_server_url=rs.resource,
                                         required_scopes=["mcp:tools"]))
    app = ApprovalGate(server.streamable_http_app(...), resource_server=rs,
                       tools=["send_payment"], scopes=["mcp:tools"])

The SDK's bearer middleware passes only the token, so DPoP-bound tokens are refused
here (their proof cannot be checked; RFC 9449 s7.1), and so is every token when the
revocation view cannot be confirmed (fail closed). The token's ``aud`` must be this
resource exactly; ``AccessToken.resource`` says so to the SDK as well (RFC 8707).

Approval tokens are refused by the verifier, except inside a request ``ApprovalGate``
has already checked: the gate reads the JSON-RPC body, and for a ``tools/call`` of a
gated tool verifies the approval against the call's actual ``params.arguments``
(``ResourceServer.verify_approval``: tool, RFC 8785 hash, single use at authgate)
before the SDK sees the request. The tool reads the redeemed approval with
``approved_call()``. A gated tool called with an ordinary token, or with an approval
for another call, never runs.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

from mcp.server.auth.provider import AccessToken

from authgate import jsonlimits
from authgate.errors import (
    AuthgateError,
    InvalidAuthorizationDetailsError,
    InvalidRequestError,
    TokenMissingError,
)
from authgate.resource._access import Access
from authgate.resource._answers import answer
from authgate.resource.approvals import Approval
from authgate.resource.server import ResourceServer
from authgate.tool_calls import parse_json

__all__ = ["ApprovalGate", "AuthgateTokenVerifier", "approved_call"]

logger = logging.getLogger("authgate.resource")

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

# The approval ApprovalGate redeemed for the request being handled (None elsewhere).
_APPROVED: ContextVar[Approval | None] = ContextVar("authgate_approved_call", default=None)


def approved_call() -> Approval | None:
    """Inside a gated tool: the user's approval of this very call (tool and arguments)."""
    return _APPROVED.get()


class AuthgateTokenVerifier:
    """Implements ``mcp.server.auth.provider.TokenVerifier``."""

    def __init__(self, resource_server: ResourceServer) -> None:
        self.rs = resource_server

    async def verify_token(self, token: str) -> AccessToken | None:
        approval = _APPROVED.get()
        if approval is not None and hmac.compare_digest(approval.access.token, token):
            return self._access_token(approval.access)  # checked and redeemed by the gate
        try:
            access = await self.rs.verify(token)
        except AuthgateError as exc:
            # The SDK answers 401 for None; the reason is logged, never the token.
            logger.info("mcp token refused: %s", type(exc).__name__)
            return None
        return self._access_token(access)

    def _access_token(self, access: Access) -> AccessToken:
        return AccessToken(
            token=access.token,
            client_id=access.client_id or access.subject,
            scopes=sorted(access.scopes),
            expires_at=access.expires_at,
            resource=self.rs.resource,
            subject=access.subject,
            claims=access.claims,
        )


class ApprovalGate:
    """Pure ASGI, around the SDK's app: ``tools`` run only with an approval of the call."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        resource_server: ResourceServer,
        tools: Iterable[str],
        scopes: Sequence[str] = (),
        max_body: int = jsonlimits.MAX_BYTES,
    ) -> None:
        self.app = app
        self.rs = resource_server
        self.tools = frozenset(tools)
        self.scopes = tuple(scopes)
        self._max_body = max_body
        parts = urlsplit(resource_server.resource)
        self._origin = f"{parts.scheme}://{parts.netloc}"

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        try:
            body = await _read_body(receive, self._max_body)
            call = self._gated_call(body)
        except AuthgateError as exc:
            await self._refuse(exc, send)
            return
        replay = _replay(body, receive)
        if call is None:
            await self.app(scope, replay, send)
            return
        try:
            approval = await self._verify(scope, *call)
        except AuthgateError as exc:
            logger.info("mcp tool call %s refused: %s", call[0], type(exc).__name__)
            await self._refuse(exc, send)
            return
        reset = _APPROVED.set(approval)
        try:
            await self.app(scope, replay, send)
        finally:
            _APPROVED.reset(reset)

    def _gated_call(self, body: bytes) -> tuple[str, dict[str, Any]] | None:
        """The (tool, arguments) of a JSON-RPC ``tools/call`` of a gated tool, else None.

        Read with duplicate member names refused: a body this parser and the SDK's
        could read differently is refused rather than passed on.
        """
        if not body.strip():
            return None
        try:
            message = parse_json(body)
        except InvalidAuthorizationDetailsError as exc:
            raise InvalidRequestError("The request body is not valid JSON") from exc
        if isinstance(message, list):
            if any(self._call_of(item) for item in message):
                raise InvalidRequestError("Gated tools cannot be called in a batch")
            return None
        return self._call_of(message)

    def _call_of(self, message: Any) -> tuple[str, dict[str, Any]] | None:
        if not isinstance(message, dict) or message.get("method") != "tools/call":
            return None
        params = message.get("params")
        if not isinstance(params, dict) or params.get("name") not in self.tools:
            return None
        arguments = params.get("arguments", {})
        if not isinstance(arguments, dict):
            raise InvalidRequestError("The tool call's arguments must be an object")
        return str(params["name"]), arguments

    async def _verify(
        self, scope: MutableMapping[str, Any], tool: str, arguments: dict[str, Any]
    ) -> Approval:
        scheme, token = _credentials(scope)
        raw = scope.get("raw_path")
        path = raw.decode("latin-1").split("?", 1)[0] if raw else scope["path"]
        return await self.rs.verify_approval(
            token,
            tool=tool,
            arguments=arguments,
            scopes=self.scopes,
            scheme=scheme,
            dpop_proofs=_headers(scope, b"dpop"),
            method="POST",
            url=f"{self._origin}{path}",
        )

    async def _refuse(self, exc: AuthgateError, send: Send) -> None:
        status, headers, body = answer(exc, self.rs.metadata_url)
        content = json.dumps(body).encode()
        raw_headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()
        ]
        raw_headers += [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(content)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": content})


def _headers(scope: MutableMapping[str, Any], name: bytes) -> list[str]:
    return [v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == name]


def _credentials(scope: MutableMapping[str, Any]) -> tuple[str, str]:
    values = _headers(scope, b"authorization")
    if len(values) != 1:
        raise TokenMissingError()
    scheme, _, token = values[0].partition(" ")
    if scheme.lower() not in ("bearer", "dpop") or not token.strip():
        raise TokenMissingError()
    return scheme.lower(), token.strip()


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise InvalidRequestError("The request ended before its body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise InvalidRequestError("The request body is too large")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body once more for the app, then the real channel (for disconnects)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
