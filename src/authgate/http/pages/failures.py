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
from starlette.responses import Response

from authgate.http.dependencies import get_runtime
from authgate.http.pages.providers import provider_label
from authgate.http.pages.templates import error_page
from authgate.runtime import Runtime

__all__ = ["failure_message", "oauth_failure_url", "router"]

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
    "email_unverified": "{provider} has not verified your email address, so it cannot be "
    "linked to an existing account. Sign in with your password instead.",
    "account_disabled": "This account is disabled.",
    "registration_closed": "There is no account for this {provider} identity, and new "
    "accounts cannot be created here.",
    "rate_limited": "Too many sign-in attempts. Wait a few minutes and try again.",
    "unknown_provider": "That sign-in provider is not available here.",
}


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
