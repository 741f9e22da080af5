"""A pure ASGI middleware that protects path prefixes of any Starlette/ASGI app.

    app = AuthMiddleware(app, authenticator=..., rules={"/api/admin": ["manage_agent"],
                                                        "/api": ["use_agent"]})

The longest matching prefix decides; paths under no rule pass through untouched.
Rules match the normalised path: case-insensitively, so ``/API/admin`` is ``/api/admin``
whatever the app's router does with case. A path that readers can resolve differently
(``//``, ``.`` or ``..`` segments, backslashes, encoded ``/``, ``%`` left after the
server decoded it) is refused with 400 when it, or what it could resolve to, falls
under a rule (issue 19 item 13), rather than guessed at.
Pass ``dpop=runtime.dpop`` to accept DPoP-bound tokens (RFC 9449 s7.1).
Handlers find the ``Principal`` at ``scope["authgate.principal"]`` and
``request.state.principal``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import unquote

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from authgate.agents.dpop import DPoPVerifier
from authgate.errors import AuthgateError, InvalidRequestError, PermissionDeniedError
from authgate.http.credentials import access_cookie_name, plain_bearer
from authgate.http.dependencies import PRINCIPAL_KEY
from authgate.http.error_responses import error_response
from authgate.http.sender import authenticate_connection
from authgate.principal import Principal
from authgate.sessions.authenticator import Authenticator
from authgate.urlpaths import has_ambiguous_separators, remove_dot_segments

__all__ = ["AuthMiddleware"]


class AuthMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticator: Authenticator,
        rules: Mapping[str, Iterable[str]],
        secure_cookies: bool = True,
        dpop: DPoPVerifier | None = None,
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        # Without a verifier, DPoP-bound tokens are refused (runtime.dpop is the usual one).
        self.dpop = dpop
        # Longest prefix first, so "/api/admin" wins over "/api"; lower case, as paths are.
        self._rules = sorted(
            ((prefix.rstrip("/").lower(), frozenset(perms)) for prefix, perms in rules.items()),
            key=lambda rule: len(rule[0]),
            reverse=True,
        )
        self._cookie = access_cookie_name(secure_cookies)
        self._device = authenticator.needs_device

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        try:
            needed = self._needed(scope)
        except AuthgateError as exc:
            await error_response(exc)(scope, receive, send)
            return
        if needed is None:
            await self.app(scope, receive, send)
            return
        try:
            principal = self._plain_bearer(scope)
            if principal is None:
                principal = await authenticate_connection(
                    HTTPConnection(scope),
                    self.authenticator,
                    cookie_name=self._cookie,
                    dpop=self.dpop,
                )
            missing = needed - principal.permissions
            if missing:
                raise PermissionDeniedError(missing)
        except AuthgateError as exc:
            await error_response(exc)(scope, receive, send)
            return
        scope[PRINCIPAL_KEY] = principal
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)

    def _needed(self, scope: Scope) -> frozenset[str] | None:
        """The permissions the request's path needs; 400 for an ambiguous protected path."""
        path: str = scope["path"].lower()
        if not _ambiguous(path, scope.get("raw_path")):
            return self._match(path)
        if self._match(path) is not None or self._match(_resolved(path)) is not None:
            raise InvalidRequestError(_AMBIGUOUS)
        return None

    def _plain_bearer(self, scope: Scope) -> Principal | None:
        """The common case without building a Request: one ``Bearer`` header, nothing else.

        Anything else (a query string, a cookie, several or other ``Authorization``
        headers, a DPoP-bound token, device checks) returns None and takes the full path,
        which applies every rule; in the common case both give the same Principal.
        """
        if self._device:
            return None
        token = plain_bearer(scope)
        if token is None:
            return None
        principal = self.authenticator.authenticate(token)
        return principal if principal.jkt is None else None

    def _match(self, path: str) -> frozenset[str] | None:
        for prefix, needed in self._rules:
            if path == prefix or path.startswith(prefix + "/") or prefix == "":
                return needed
        return None


_AMBIGUOUS = "The request path is ambiguous: send it without //, . or .. segments or %2F"
_DOT_SEGMENT = re.compile(r"/\.\.?(?:/|$)")
_ENCODED_SEPARATOR = re.compile(rb"%(?:2f|5c)", re.IGNORECASE)


def _ambiguous(path: str, raw_path: object) -> bool:
    """Whether readers may resolve this (decoded, lower-case) path differently."""
    # The server decoded the path once: a "%" left in it was encoded twice.
    if has_ambiguous_separators(path) or "%" in path or _DOT_SEGMENT.search(path):
        return True
    # "%2F" decoded to "/" is a separator to this check but maybe not to the app.
    if isinstance(raw_path, bytes) and b"%" in raw_path:
        return _ENCODED_SEPARATOR.search(raw_path) is not None
    return False


def _resolved(path: str) -> str:
    """What an ambiguous path could mean to a lenient reader: separators merged, dots gone."""
    merged = re.sub(r"/{2,}", "/", unquote(path).replace("\\", "/"))
    return remove_dot_segments(merged)
