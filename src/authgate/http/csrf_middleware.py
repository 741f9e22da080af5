"""CSRF defence for cookie-authenticated requests (OWASP ASVS 5.0 V3.5).

A state-changing request (POST, PUT, PATCH, DELETE) that carries an authgate auth
cookie must send the ``csrf_token`` cookie's value in ``X-CSRF-Token`` (double submit,
compared in constant time) and must not come from a foreign origin: ``Origin`` must be
this site or an allowed CORS origin, ``Origin: null`` is refused, and without ``Origin``
a ``Sec-Fetch-Site: cross-site`` is refused.

Requests with an ``Authorization`` header are exempt, since browsers never add one
cross-site without a CORS preflight. A request that sends an access token in that
header (``Bearer`` or ``DPoP``) must not carry the access-token cookie as well: it is
answered 400 ``invalid_request`` (RFC 6750 s2: one method per request), whichever user
each names, instead of silently choosing one. Otherwise (other schemes, such as client
authentication with ``Basic``, and the refresh cookie) the auth cookies are removed, so
a cookie never acts in a request that carries a header credential.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from authgate.errors import CsrfError, MultipleCredentialsError
from authgate.http.credentials import (
    ACCESS_TOKEN_SCHEMES,
    access_cookie_name,
    refresh_cookie_name,
)
from authgate.http.error_responses import error_response

__all__ = ["CSRF_EXEMPT", "CSRF_HEADER", "CsrfMiddleware", "csrf_cookie_name", "new_csrf_token"]

CSRF_HEADER = "x-csrf-token"
# Sign-in and sign-up authorize nothing by cookie, and stale cookies must not block them.
# An authorization request may arrive as a cross-site form POST (RFC 6749 s3.1), like a
# GET link; it changes nothing the consent form (CSRF-checked) has not already allowed.
CSRF_EXEMPT = (
    "/auth/login",
    "/auth/register",
    "/oauth2/authorize",
    # The account lifecycle's unauthenticated steps: a mailed key, a sign-in challenge or
    # a passkey assertion authorizes them, never a cookie (docs/accounts.md).
    "/auth/login/mfa",
    "/auth/passkeys/login",
    "/auth/passkeys/login/options",
    "/auth/password/forgot",
    "/auth/password/reset",
    "/auth/email/verify",
)
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def csrf_cookie_name(secure: bool) -> str:
    return "__Host-csrf_token" if secure else "csrf_token"


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


class CsrfMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        secure_cookies: bool,
        allowed_origins: Iterable[str] = (),
        exempt_paths: Iterable[str] = CSRF_EXEMPT,
    ) -> None:
        self.app = app
        self._access_cookie = access_cookie_name(secure_cookies)
        self._auth_cookies = frozenset({self._access_cookie, refresh_cookie_name(secure_cookies)})
        self._csrf_cookie = csrf_cookie_name(secure_cookies)
        self._origins = frozenset(origin.lower() for origin in allowed_origins)
        self._exempt = frozenset(exempt_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_cookie(scope):
            # No cookie: nothing for a forged request to ride on, and no second
            # credential beside an Authorization header (API clients, agents).
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        authorization = headers.get("authorization")
        if authorization is not None:
            if _sends_a_token(authorization) and self._access_cookie in cookie_parser(
                headers.get("cookie", "")
            ):
                await error_response(MultipleCredentialsError())(scope, receive, send)
                return
            _drop_cookies(scope, self._auth_cookies)
        elif scope["method"] not in _SAFE_METHODS and scope["path"] not in self._exempt:
            cookies = cookie_parser(headers.get("cookie", ""))
            if self._auth_cookies.intersection(cookies) and not self._passes(
                headers, cookies, scope["scheme"]
            ):
                await error_response(CsrfError())(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _passes(self, headers: Headers, cookies: dict[str, str], scheme: str) -> bool:
        expected = cookies.get(self._csrf_cookie, "")
        presented = headers.get(CSRF_HEADER, "")
        if not expected or not hmac.compare_digest(
            expected.encode("utf-8", "replace"), presented.encode("utf-8", "replace")
        ):
            return False
        return self._origin_ok(headers, scheme)

    def _origin_ok(self, headers: Headers, scheme: str) -> bool:
        origin = headers.get("origin")
        if origin is None:
            return headers.get("sec-fetch-site", "same-origin") != "cross-site"
        origin = origin.strip().lower()
        if origin == "null":
            return False
        host = headers.get("host", "").lower()
        return origin == f"{scheme}://{host}" or origin in self._origins


def _has_cookie(scope: Scope) -> bool:
    return any(name == b"cookie" for name, _ in scope["headers"])


def _sends_a_token(authorization: str) -> bool:
    return authorization.partition(" ")[0].lower() in ACCESS_TOKEN_SCHEMES


def _drop_cookies(scope: Scope, names: frozenset[str]) -> None:
    rewritten = []
    for name, value in scope["headers"]:
        if name == b"cookie":
            kept = [
                part
                for part in value.decode("latin-1").split(";")
                if part.split("=", 1)[0].strip() not in names
            ]
            if not any(part.strip() for part in kept):
                continue
            value = ";".join(kept).strip().encode("latin-1")
        rewritten.append((name, value))
    scope["headers"] = rewritten
