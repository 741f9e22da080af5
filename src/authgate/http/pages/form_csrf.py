"""CSRF protection for the HTML forms (OWASP ASVS V3.5): double-submit token + origin.

Every form carries a random token in a hidden field; the same value sits in an HttpOnly,
SameSite=Strict cookie (``__Host-`` prefixed over HTTPS, so a sibling subdomain cannot
plant it). A state-changing POST must present both, equal (compared in constant time),
and must come from this site by its ``Origin`` header (or ``Referer`` when a browser
omits ``Origin``). The sign-in form is protected too, against login CSRF.

This complements ``authgate.http.csrf_middleware``, which guards script clients by header: a form
cannot send ``X-CSRF-Token``, and that cookie is re-issued at every token refresh, which
would expire forms left open. The form paths are exempt there because they check here.
"""

from __future__ import annotations

import hmac
import re
import secrets
from urllib.parse import urlsplit

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from authgate.errors import CsrfError

__all__ = [
    "CSRF_FIELD",
    "csrf_cookie_name",
    "csrf_token",
    "set_csrf_cookie",
    "verify_csrf",
]

CSRF_FIELD = "csrf_token"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # 32 random bytes, base64url


def csrf_cookie_name(secure: bool) -> str:
    return "__Host-form_csrf" if secure else "form_csrf"


def csrf_token(request: Request, *, secure: bool) -> str:
    """The browser's current token, or a fresh one when it has none (or a malformed one)."""
    existing = request.cookies.get(csrf_cookie_name(secure), "")
    return existing if _TOKEN.match(existing) else secrets.token_urlsafe(32)


def set_csrf_cookie(response: Response, token: str, *, secure: bool) -> None:
    response.set_cookie(
        csrf_cookie_name(secure), token, path="/", secure=secure, httponly=True, samesite="strict"
    )


def verify_csrf(request: Request, form: FormData, *, secure: bool) -> None:
    """Raise ``CsrfError`` unless the POST is same-origin and carries the cookie's token."""
    _check_origin(request)
    cookie = request.cookies.get(csrf_cookie_name(secure), "")
    submitted = form.get(CSRF_FIELD)
    if not isinstance(submitted, str) or not _TOKEN.match(cookie):
        raise CsrfError("The form's CSRF token is missing")
    if not hmac.compare_digest(cookie.encode(), submitted.encode()):
        raise CsrfError("The form's CSRF token does not match")


def _check_origin(request: Request) -> None:
    # Compared by host[:port] with the Host header, so a TLS-terminating proxy that
    # forwards plain HTTP does not make every same-site form look cross-site.
    host = request.headers.get("host", "").lower()
    origin = request.headers.get("origin")
    if origin is not None:
        if origin == "null" or urlsplit(origin).netloc.lower() != host:
            raise CsrfError("The form was posted from another site")
        return
    referer = request.headers.get("referer")
    if referer is None or urlsplit(referer).netloc.lower() != host:
        raise CsrfError("The form was posted without a same-site Origin or Referer")
