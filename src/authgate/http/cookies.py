"""Auth cookies for browser clients: HttpOnly, SameSite=Lax, Secure outside development."""

from __future__ import annotations

from starlette.responses import Response

from authgate.http.credentials import access_cookie_name, refresh_cookie_name
from authgate.http.csrf_middleware import csrf_cookie_name, new_csrf_token
from authgate.sessions.service import TokenPair
from authgate.tokens.issuer import IssuedToken

__all__ = ["clear_auth_cookies", "set_access_cookie", "set_auth_cookies"]


def _set_token_cookie(response: Response, name: str, token: IssuedToken, *, secure: bool) -> None:
    response.set_cookie(
        name,
        token.token,
        max_age=token.expires_at - token.issued_at,
        path="/",
        secure=secure,
        httponly=True,
        samesite="lax",
    )


def set_access_cookie(response: Response, token: IssuedToken, *, secure: bool) -> None:
    """Only the access cookie: a fresh token for the same session (after a step-up)."""
    _set_token_cookie(response, access_cookie_name(secure), token, secure=secure)


def set_auth_cookies(response: Response, pair: TokenPair, *, secure: bool) -> None:
    set_access_cookie(response, pair.access, secure=secure)
    _set_token_cookie(response, refresh_cookie_name(secure), pair.refresh, secure=secure)
    # Readable by the page's script (not HttpOnly): it echoes it in X-CSRF-Token.
    response.set_cookie(
        csrf_cookie_name(secure),
        new_csrf_token(),
        max_age=pair.refresh.expires_at - pair.refresh.issued_at,
        path="/",
        secure=secure,
        httponly=False,
        samesite="lax",
    )


def clear_auth_cookies(response: Response, *, secure: bool) -> None:
    for name in (access_cookie_name(secure), refresh_cookie_name(secure)):
        response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="lax")
    response.delete_cookie(csrf_cookie_name(secure), path="/", secure=secure, samesite="lax")
