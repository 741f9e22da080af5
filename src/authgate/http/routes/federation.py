"""``/auth/oauth``: sign in with a provider, then get authgate's own token pair.

``GET /auth/oauth/{provider}`` answers ``{"authUrl", "provider"}`` and sets the sealed
``oauth_state`` cookie, or redirects there (302) for ``?redirect=true`` and browsers
(``Accept: text/html``). ``GET /auth/oauth/{provider}/callback`` checks the answer,
issues the pair and sets the auth cookies; browsers are sent on (303) to the
allow-listed return target. The state cookie is cleared whatever the outcome.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from authgate.errors import OAuthLoginError, OAuthStateError, RegistrationClosedError
from authgate.federation.state import COOKIE_NAME
from authgate.http.cookies import set_auth_cookies
from authgate.http.credentials import device_info
from authgate.http.dependencies import get_runtime
from authgate.http.error_responses import error_response
from authgate.http.pages.failures import failure_redirect
from authgate.http.ratelimit_middleware import FAILED_ATTEMPT
from authgate.runtime import Runtime
from authgate.storage.models import Identity

__all__ = ["identity_json", "router"]

router = APIRouter(prefix="/auth/oauth", tags=["oauth"])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
COOKIE_PATH = "/auth/oauth"
# RFC 6749 s5.1 for the pair; the authorization URL is single-use too.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def identity_json(identity: Identity) -> dict[str, Any]:
    return {
        "provider": identity.provider,
        "subject": identity.subject,
        "email": identity.email,
        "emailVerified": identity.email_verified,
    }


def _wants_redirect(request: Request, redirect: bool) -> bool:
    return redirect or "text/html" in request.headers.get("accept", "")


def _clear_state(response: Response, *, secure: bool) -> None:
    response.delete_cookie(
        COOKIE_NAME, path=COOKIE_PATH, secure=secure, httponly=True, samesite="lax"
    )


@router.get("/{provider}")
async def start(
    provider: str,
    request: Request,
    runtime: RuntimeDep,
    redirect: bool = False,
    return_to: Annotated[str | None, Query(alias="returnTo", max_length=2048)] = None,
) -> Response:
    browser = _wants_redirect(request, redirect)
    try:
        started = await runtime.oauth.start(provider, return_to=return_to, browser=browser)
    except OAuthLoginError as exc:
        # A person in a browser gets the error page (http/pages), not a JSON body.
        page = failure_redirect(request, exc, provider)
        if page is None:
            raise
        return page
    response: Response
    if browser:
        response = RedirectResponse(started.auth_url, status_code=302, headers=NO_STORE)
    else:
        response = JSONResponse(
            {"authUrl": started.auth_url, "provider": provider}, headers=NO_STORE
        )
    response.set_cookie(
        COOKIE_NAME,
        started.cookie,
        max_age=runtime.oauth.states.ttl,
        path=COOKIE_PATH,
        secure=runtime.settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )
    return response


@router.get("/{provider}/callback")
async def callback(provider: str, request: Request, runtime: RuntimeDep) -> Response:
    secure = runtime.settings.secure_cookies
    device = device_info(request)
    try:
        pairs = request.query_params.multi_items()
        # RFC 6749 s3.1: a parameter sent twice makes the response ambiguous; refuse it.
        if len({key for key, _ in pairs}) != len(pairs):
            raise OAuthLoginError(provider[:64], "A callback parameter was repeated")
        done = await runtime.oauth.complete(
            provider, cookie=request.cookies.get(COOKIE_NAME), params=dict(pairs), device=device
        )
    except (OAuthLoginError, RegistrationClosedError) as exc:
        detail = {"reason": exc.reason} if isinstance(exc, OAuthStateError) else {}
        request.scope[FAILED_ATTEMPT] = True  # counts against the oauth rate limit
        await runtime.audit.record(
            "oauth.failure", device=device, provider=provider[:64], error=exc.error, **detail
        )
        failed = failure_redirect(request, exc, provider) or error_response(exc)
        _clear_state(failed, secure=secure)
        return failed
    user = done.sign_in.user
    pair = await runtime.auth.start_session(user, device)
    response: Response
    if done.state.browser:
        response = RedirectResponse(done.state.return_to, status_code=303, headers=NO_STORE)
    else:
        body = {
            "success": True,
            "user": {"id": user.id, "email": user.email, "name": user.name},
            "provider": provider,
            **pair.as_json(),
        }
        response = JSONResponse(body, headers=NO_STORE)
    set_auth_cookies(response, pair, secure=secure)
    _clear_state(response, secure=secure)
    return response
