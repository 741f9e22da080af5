"""The FastAPI/Starlette faces of ``ResourceServer``: a dependency, an ASGI middleware,
RFC 9728 metadata routes, and RFC 6750 error answers.

    rs = ResourceServer(issuer=..., resource="http://127.0.0.1:9000", client_id=..., ...)
    app = FastAPI(lifespan=lifespan_for(rs))
    install(app, rs)

    @app.get("/notes")
    async def notes(access: Access = Depends(require_scope("notes:read"))) -> dict: ...

Answers: 401 with ``WWW-Authenticate: Bearer resource_metadata="..."`` (RFC 9728 s5.1)
and ``error="invalid_token"`` when a token was sent; 403 with
``error="insufficient_scope", scope="..."`` so a client can step up (RFC 6750 s3.1);
503 when revocations cannot be confirmed (fail closed). Bodies are
``{"error": ..., "message": ...}`` and never echo the token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from authgate.errors import AuthgateError, TokenMissingError
from authgate.resource._access import Access
from authgate.resource._answers import answer
from authgate.resource.approvals import Approval
from authgate.resource.server import ResourceServer
from authgate.tool_calls import parse_arguments

__all__ = [
    "ResourceMiddleware",
    "authenticate",
    "error_response",
    "install",
    "lifespan_for",
    "require_approval",
    "require_scope",
]

_STATE = "authgate_resource"


def lifespan_for(rs: ResourceServer) -> Callable[[Any], Any]:
    """A lifespan that starts ``rs`` (metadata, keys, revocation feed) and closes it."""

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        await rs.start()
        try:
            yield
        finally:
            await rs.aclose()

    return lifespan


def install(app: Starlette, rs: ResourceServer) -> None:
    """Make ``rs`` the app's verifier and serve its RFC 9728 metadata, in both forms."""
    setattr(app.state, _STATE, rs)
    install_error_handler(app)
    path = urlsplit(rs.resource).path.rstrip("/")

    async def metadata(_request: Request) -> Response:
        return JSONResponse(rs.metadata(), headers={"Cache-Control": "public, max-age=3600"})

    app.router.routes.insert(0, Route("/.well-known/oauth-protected-resource", metadata))
    if path:
        # RFC 9728 s3.1: the resource's path is appended to the well-known path.
        app.router.routes.insert(0, Route(f"/.well-known/oauth-protected-resource{path}", metadata))


def _server(conn: HTTPConnection) -> ResourceServer:
    rs = getattr(conn.app.state, _STATE, None)
    if not isinstance(rs, ResourceServer):
        raise RuntimeError("call authgate.resource.web.install(app, resource_server) first")
    return rs


def credentials(conn: HTTPConnection) -> tuple[str, str]:
    """The scheme and token of the request's one ``Authorization`` header (RFC 6750 s2.1)."""
    values = conn.headers.getlist("authorization")
    if len(values) != 1:
        raise TokenMissingError()
    scheme, _, token = values[0].partition(" ")
    scheme = scheme.lower()
    if scheme not in ("bearer", "dpop") or not token.strip():
        raise TokenMissingError()
    return scheme, token.strip()


async def authenticate(
    conn: HTTPConnection, rs: ResourceServer, scopes: Sequence[str] = ()
) -> Access:
    """The request's access, from its one ``Authorization`` header (RFC 6750 s2.1)."""
    scheme, token = credentials(conn)
    return await rs.verify(
        token,
        scopes=scopes,
        scheme=scheme,
        dpop_proofs=conn.headers.getlist("dpop"),
        method=conn.scope.get("method", "GET"),
        url=_public_url(conn, rs),
    )


def _public_url(conn: HTTPConnection, rs: ResourceServer) -> str:
    # DPoP htu is compared with the URL this resource is known by, never with the
    # request's Host header (a proof made for another server must not pass here).
    parts = urlsplit(rs.resource)
    raw = conn.scope.get("raw_path")
    path = raw.decode("latin-1").split("?", 1)[0] if raw else conn.scope["path"]
    return f"{parts.scheme}://{parts.netloc}{path}"


def require_scope(*scopes: str) -> Callable[[Request], Coroutine[Any, Any, Access]]:
    """A FastAPI dependency: the caller's ``Access``, with every scope in ``scopes``."""

    async def dependency(request: Request) -> Access:
        rs = _server(request)
        try:
            return await authenticate(request, rs, scopes)
        except AuthgateError as exc:
            raise _Answer(error_response(exc, rs)) from exc

    return dependency


def require_approval(
    *,
    tool: str,
    type: str = "tool_call",
    scopes: Sequence[str] = (),
) -> Callable[[Request], Coroutine[Any, Any, Approval]]:
    """A FastAPI dependency: the user's approval of this call to ``tool``, redeemed.

    The call's arguments are the request's JSON body (an object; duplicate member names
    refused). The handler must act on ``approval.arguments``, the exact object whose
    RFC 8785 hash matched the approved ``arguments_sha256``. Refusals: 401 for a bad
    token, 403 ``insufficient_authorization`` with ``reason`` (``no_approval``,
    ``wrong_tool``, ``arguments_changed``, ``already_used``), 400 for a body that is not
    a JSON object, 503 when authgate cannot confirm the redemption.
    """
    if type != "tool_call":
        raise ValueError(f"unsupported authorization details type: {type}")

    async def dependency(request: Request) -> Approval:
        rs = _server(request)
        try:
            scheme, token = credentials(request)
            arguments = parse_arguments(await request.body())
            return await rs.verify_approval(
                token,
                type=type,
                tool=tool,
                arguments=arguments,
                scopes=scopes,
                scheme=scheme,
                dpop_proofs=request.headers.getlist("dpop"),
                method=request.method,
                url=_public_url(request, rs),
            )
        except AuthgateError as exc:
            raise _Answer(error_response(exc, rs)) from exc

    return dependency


class _Answer(Exception):
    """Carries a ready error response out of a dependency (see ``install``'s handler)."""

    def __init__(self, response: Response) -> None:
        self.response = response


def error_response(exc: AuthgateError, rs: ResourceServer) -> Response:
    """The RFC 6750 s3 answer to ``exc``; the body never includes the token."""
    status, headers, body = answer(exc, rs.metadata_url)
    return JSONResponse(body, status_code=status, headers=headers)


def install_error_handler(app: Starlette) -> None:
    async def handler(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, _Answer)
        return exc.response

    app.add_exception_handler(_Answer, handler)


class ResourceMiddleware:
    """Pure ASGI: the longest matching path prefix in ``rules`` names the scopes needed;
    paths under no rule (and the metadata) pass untouched. The handler finds the caller's
    ``Access`` in ``scope["state"]["access"]`` (``request.state.access``)."""

    def __init__(
        self, app: ASGIApp, *, resource_server: ResourceServer, rules: Mapping[str, Sequence[str]]
    ) -> None:
        self.app = app
        self.rs = resource_server
        # Longest prefix first; matched on whole segments, case-sensitively.
        self._rules = sorted(((p.rstrip("/"), tuple(s)) for p, s in rules.items()), reverse=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if "//" in path or "/./" in path or "/../" in path or path.endswith(("/..", "/.")):
            # Ambiguous paths could match a rule differently from the router: refuse.
            body = {"error": "Invalid request", "message": "Ambiguous path"}
            await JSONResponse(body, status_code=400)(scope, receive, send)
            return
        needed = self._scopes_for(path)
        if needed is None:
            await self.app(scope, receive, send)
            return
        try:
            access = await authenticate(HTTPConnection(scope), self.rs, needed)
        except AuthgateError as exc:
            await error_response(exc, self.rs)(scope, receive, send)
            return
        scope.setdefault("state", {})["access"] = access
        await self.app(scope, receive, send)

    def _scopes_for(self, path: str) -> tuple[str, ...] | None:
        for prefix, scopes in self._rules:
            if path == prefix or path.startswith(prefix + "/") or prefix == "":
                return scopes
        return None
