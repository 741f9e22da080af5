"""A pure ASGI middleware that protects path prefixes of any Starlette/ASGI app.

    app = AuthMiddleware(app, authenticator=..., rules={"/api/admin": ["manage_agent"],
                                                        "/api": ["use_agent"]})

The longest matching prefix decides; paths under no rule pass through untouched.
Handlers find the ``Principal`` at ``scope["authgate.principal"]`` and
``request.state.principal``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from authgate.authenticator import Authenticator
from authgate.errors import AuthgateError, PermissionDeniedError, TokenMissingError
from authgate.http.credentials import access_cookie_name, device_info, extract_token
from authgate.http.dependencies import PRINCIPAL_KEY
from authgate.http.errors import error_response

__all__ = ["AuthMiddleware"]


class AuthMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticator: Authenticator,
        rules: Mapping[str, Iterable[str]],
        secure_cookies: bool = True,
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        # Longest prefix first, so "/api/admin" wins over "/api".
        self._rules = sorted(
            ((prefix.rstrip("/"), frozenset(perms)) for prefix, perms in rules.items()),
            key=lambda rule: len(rule[0]),
            reverse=True,
        )
        self._cookie = access_cookie_name(secure_cookies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        needed = self._match(scope["path"])
        if needed is None:
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        try:
            token = extract_token(conn, cookie_name=self._cookie)
            if token is None:
                raise TokenMissingError()
            principal = self.authenticator.authenticate(token, device_info(conn))
            missing = needed - principal.permissions
            if missing:
                raise PermissionDeniedError(missing)
        except AuthgateError as exc:
            await error_response(exc)(scope, receive, send)
            return
        scope[PRINCIPAL_KEY] = principal
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)

    def _match(self, path: str) -> frozenset[str] | None:
        for prefix, needed in self._rules:
            if path == prefix or path.startswith(prefix + "/") or prefix == "":
                return needed
        return None
