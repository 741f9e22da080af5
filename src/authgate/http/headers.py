"""Security headers on every response (OWASP ASVS 5.0 V3.4), computed once at start.

A header the handler already set wins, so a route can loosen or tighten one on purpose.
``Cache-Control: no-store`` is the default for every answer without its own policy:
token responses must never be cached (RFC 6749 s5.1), and nothing authgate serves is
worth caching in a shared cache. HSTS is sent over HTTPS, or always in production where
TLS ends at a proxy (RFC 6797 s7.2 forbids it over plain HTTP otherwise).
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DOCS_CSP", "SecurityHeadersMiddleware", "add_headers"]

# Swagger UI comes from a package (http/apidocs.py): scripts from 'self' only; it sets
# inline styles and draws data: images.
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; frame-ancestors 'none'"
)
_Headers = list[tuple[bytes, bytes]]


def _encode(pairs: Iterable[tuple[str, str]]) -> _Headers:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in pairs]


class SecurityHeadersMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        content_security_policy: str,
        hsts_max_age: int = 31536000,
        always_hsts: bool = False,
        docs_paths: Iterable[str] = ("/docs", "/redoc"),
    ) -> None:
        self.app = app
        common = [
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
            ("X-Frame-Options", "DENY"),
            ("Cross-Origin-Opener-Policy", "same-origin"),
            ("Cache-Control", "no-store"),
        ]
        self._api = _encode([("Content-Security-Policy", content_security_policy), *common])
        self._docs = _encode([("Content-Security-Policy", DOCS_CSP), *common])
        self._docs_paths = tuple(docs_paths)
        hsts = f"max-age={hsts_max_age}; includeSubDomains; preload"
        self._hsts = _encode([("Strict-Transport-Security", hsts)]) if hsts_max_age else []
        self._always_hsts = always_hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.headers_for(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                add_headers(message, extra)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def headers_for(self, scope: Scope) -> _Headers:
        """The headers this request's answer gets (unless the handler set its own)."""
        extra = self._docs if scope["path"].startswith(self._docs_paths) else self._api
        if self._always_hsts or scope.get("scheme") == "https":
            extra = extra + self._hsts
        return extra


def add_headers(message: Message, extra: _Headers) -> None:
    """Add ``extra`` to a response start message, except the names it already has."""
    headers: _Headers = list(message.get("headers", []))
    present = {name.lower() for name, _ in headers}
    headers.extend(pair for pair in extra if pair[0] not in present)
    message["headers"] = headers
