"""Messages for sign-ins that did not complete, and the ``/auth/error`` page.

The OAuth flow redirects here (or to ``/login?error=...``) with a reason code: those
of RFC 6749 s4.1.2.1 that a provider sends, plus the checks authgate itself makes.
Only known codes are shown; the page never echoes text from the query string, so a
crafted link cannot put words in the site's mouth.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from authgate.errors import (
    AccountDisabledError,
    AuthgateError,
    CodeExchangeError,
    IdTokenError,
    IssuerMismatchError,
    OAuthStateError,
    ProviderDeniedError,
    ProviderUnavailableError,
    RedirectNotAllowedError,
    RegistrationClosedError,
    UnknownProviderError,
    UnverifiedAccountError,
)
from authgate.http.dependencies import get_runtime
from authgate.http.pages.providers import provider_label
from authgate.http.pages.templates import error_page
from authgate.runtime import Runtime

__all__ = [
    "failure_message",
    "failure_reason",
    "failure_redirect",
    "oauth_failure_url",
    "router",
]

router = APIRouter(include_in_schema=False)
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]

_GENERIC = "Signing in with {provider} did not complete. Try again, or use your password."
_MESSAGES = {
    # RFC 6749 s4.1.2.1 error codes, as the provider returns them
    "access_denied": "Signing in with {provider} was cancelled or refused, so you are not "
    "signed in.",
    "temporarily_unavailable": "{provider} is unavailable right now. Try again in a few minutes.",
    "server_error": "{provider} had a problem completing the sign-in. Try again in a few minutes.",
    "invalid_request": _GENERIC,
    "invalid_scope": _GENERIC,
    "unauthorized_client": "This site is not allowed to sign in with {provider}. "
    "Please tell the site's administrators.",
    # authgate's own checks of the answer
    "invalid_state": "This sign-in attempt expired or did not start on this site. "
    "Start again from the sign-in page.",
    "invalid_token": "The answer from {provider} could not be verified, so you were not signed in.",
    "invalid_grant": "{provider} refused the sign-in code. Start again from the sign-in page.",
    "account_disabled": "This account is disabled.",
    "email_unverified": "An account with this email already exists, but its address has "
    "not been verified. Sign in with its password and confirm the address, or reset the "
    "password, then sign in with {provider} again.",
    "registration_closed": "There is no account for this {provider} identity, and new "
    "accounts cannot be created here.",
    "rate_limited": "Too many sign-in attempts. Wait a few minutes and try again.",
    "unknown_provider": "That sign-in provider is not available here.",
}
# Checked in order: the first class the error is an instance of gives the reason.
_REASONS: tuple[tuple[type[AuthgateError], str], ...] = (
    (OAuthStateError, "invalid_state"),
    (IssuerMismatchError, "invalid_token"),
    (IdTokenError, "invalid_token"),
    (CodeExchangeError, "invalid_grant"),
    (AccountDisabledError, "account_disabled"),
    (UnverifiedAccountError, "email_unverified"),
    (ProviderUnavailableError, "temporarily_unavailable"),
    (UnknownProviderError, "unknown_provider"),
    (RedirectNotAllowedError, "invalid_request"),
    (RegistrationClosedError, "registration_closed"),
)


def failure_reason(exc: AuthgateError) -> str:
    """The reason code the error page shows for a failed OAuth sign-in."""
    if isinstance(exc, ProviderDeniedError):
        return exc.provider_error if exc.provider_error in _MESSAGES else "provider_error"
    return next((code for cls, code in _REASONS if isinstance(exc, cls)), "oauth_failed")


def failure_redirect(request: Request, exc: AuthgateError, provider: str) -> Response | None:
    """For a browser (``Accept: text/html``), 303 to the error page; None for API clients."""
    if "text/html" not in request.headers.get("accept", ""):
        return None
    url = oauth_failure_url(failure_reason(exc), provider[:64])
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def failure_message(reason: str | None, provider_label: str | None) -> str:
    template = _MESSAGES.get(reason or "", _GENERIC)
    return template.format(provider=provider_label or "the provider")


def oauth_failure_url(reason: str, provider: str | None = None) -> str:
    """Where the OAuth callback sends a browser whose sign-in failed."""
    query = {"reason": reason, **({"provider": provider} if provider else {})}
    return f"/auth/error?{urlencode(query)}"


@router.get("/auth/error")
async def oauth_error(request: Request, runtime: RuntimeDep) -> Response:
    params = request.query_params
    label = provider_label(runtime, params.get("provider"))
    return error_page(
        request,
        secure=runtime.settings.secure_cookies,
        status_code=400,
        heading="You are not signed in",
        message=failure_message(params.get("reason"), label),
        back_url="/login",
        back_label="Back to sign in",
    )
