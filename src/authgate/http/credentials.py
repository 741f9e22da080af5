"""Where a request's access token comes from, and who the device is.

The ``Authorization`` header first: RFC 6750 s2.1 ``Bearer``, or RFC 9449 s7.1 ``DPoP``
for a sender-constrained token; else the access-token cookie for browsers. A request
with a token both in the header and in the cookie is refused (RFC 6750 s2: one method
per request), and a token in the URL query is refused outright (RFC 6750 s5.3: URLs
end up in logs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.types import Scope

from authgate.devices import DeviceInfo
from authgate.errors import MalformedTokenError, MultipleCredentialsError, TokenInUrlError

__all__ = [
    "ACCESS_TOKEN_SCHEMES",
    "Credential",
    "access_cookie_name",
    "device_info",
    "extract_credential",
    "extract_token",
    "plain_bearer",
    "refresh_cookie_name",
]

_SCHEMES: dict[str, Literal["bearer", "dpop"]] = {"bearer": "bearer", "dpop": "dpop"}
#: The lower-case ``Authorization`` schemes that carry an access token.
ACCESS_TOKEN_SCHEMES = frozenset(_SCHEMES)


def plain_bearer(scope: Scope) -> str | None:
    """The token of the common case read straight from the ASGI scope: exactly one
    ``Authorization: Bearer`` header, no cookie, no query string. None for anything else,
    which must take ``extract_credential``'s full path with every rule."""
    if scope.get("query_string"):
        return None
    token = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            if token is not None or value[:7].lower() != b"bearer ":
                return None
            token = value[7:].strip()
        elif name == b"cookie":
            return None
    return token.decode("latin-1") if token else None


@dataclass(frozen=True, slots=True)
class Credential:
    """An access token and how it came: its ``Authorization`` scheme, or a cookie."""

    token: str
    scheme: Literal["bearer", "dpop", "cookie"]


def access_cookie_name(secure: bool) -> str:
    # The __Host- prefix pins the cookie to this host, path / and HTTPS (RFC 6265bis s4.1.3.2).
    return "__Host-access_token" if secure else "access_token"


def refresh_cookie_name(secure: bool) -> str:
    return "__Host-refresh_token" if secure else "refresh_token"


def extract_credential(conn: HTTPConnection, *, cookie_name: str) -> Credential | None:
    # Parse the query only when there is one: most API calls have none.
    if conn.scope.get("query_string") and "access_token" in conn.query_params:
        raise TokenInUrlError()
    header = conn.headers.get("authorization")
    cookie = conn.cookies.get(cookie_name) if "cookie" in conn.headers else None
    if header is not None:
        scheme, _, value = header.partition(" ")
        known = _SCHEMES.get(scheme.lower())  # auth schemes are case-insensitive
        if known is not None:
            if cookie:
                raise MultipleCredentialsError()
            token = value.strip()
            if not token:
                raise MalformedTokenError()
            return Credential(token, known)
    return Credential(cookie, "cookie") if cookie else None


def extract_token(conn: HTTPConnection, *, cookie_name: str) -> str | None:
    credential = extract_credential(conn, cookie_name=cookie_name)
    return None if credential is None else credential.token


def device_info(conn: HTTPConnection) -> DeviceInfo:
    headers: Headers = conn.headers
    return DeviceInfo(
        user_agent=headers.get("user-agent", ""),
        ip=client_ip(conn),
        accept_language=headers.get("accept-language", ""),
    )


def client_ip(conn: HTTPConnection) -> str:
    # The socket peer; trusted-proxy handling lives with the rate limiter.
    return conn.client.host if conn.client else ""
