"""Who the browser is signed in as, from its auth cookies, refreshing when it must.

A browser keeps a short-lived access cookie and a long-lived refresh cookie. When the
access token has expired (or the browser already dropped its cookie) but the refresh
token is still good, the page rotates the pair (RFC 9700 s4.14.2) and sets the new
cookies on its answer, so a browser session lasts as long as its refresh token. A
revoked session is not refreshed: the browser is signed out on its next request.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from authgate.errors import InvalidTokenError, RefreshTokenError, RevokedTokenError
from authgate.http.cookies import clear_auth_cookies, set_auth_cookies
from authgate.http.credentials import access_cookie_name, device_info, refresh_cookie_name
from authgate.principal import Principal
from authgate.runtime import Runtime
from authgate.sessions.service import TokenPair

__all__ = ["BrowserSession", "browser_session", "to_login"]


@dataclass(frozen=True, slots=True)
class BrowserSession:
    principal: Principal
    rotated: TokenPair | None = None

    def keep(self, response: Response, *, secure: bool) -> Response:
        """Set the rotated cookies on ``response``, if this request rotated them."""
        if self.rotated is not None:
            set_auth_cookies(response, self.rotated, secure=secure)
        return response


async def browser_session(request: Request, runtime: Runtime) -> BrowserSession | None:
    secure = runtime.settings.secure_cookies
    device = device_info(request)
    access = request.cookies.get(access_cookie_name(secure))
    if access:
        try:
            principal = runtime.authenticator.authenticate(access, device)
        except RevokedTokenError:
            return None
        except InvalidTokenError:
            pass  # expired or unreadable: the refresh token decides
        else:
            # The account pages are the person's own: never an agent acting for them.
            return None if principal.is_agent else BrowserSession(principal)
    refresh = request.cookies.get(refresh_cookie_name(secure))
    if not refresh:
        return None
    try:
        pair = await runtime.auth.refresh(refresh, device)
    except RefreshTokenError:
        return None
    principal = runtime.authenticator.authenticate(pair.access.token, device)
    return None if principal.is_agent else BrowserSession(principal, pair)


def to_login(request: Request, runtime: Runtime, *, next_path: str, notice: str = "") -> Response:
    """303 to the sign-in page, dropping any auth cookies that no longer work."""
    query = {"next": next_path} if next_path else {}
    if notice:
        query["notice"] = notice
    location = "/login" + (f"?{urlencode(query)}" if query else "")
    response = RedirectResponse(location, status_code=303)
    secure = runtime.settings.secure_cookies
    if (
        access_cookie_name(secure) in request.cookies
        or refresh_cookie_name(secure) in request.cookies
    ):
        clear_auth_cookies(response, secure=secure)
    return response
