"""The user's side of CIBA (OpenID CIBA Core 1.0 s7-s8): the requests agents wait on,
answered from ``/account``.

``GET /account/approvals`` answers the waiting requests as JSON (cookie session,
``no-store``); ``/static/approvals.js`` polls it every two seconds while the page is
visible, so a new request appears without a reload. Without script the page lists the
same requests when loaded. Approve and Deny are plain CSRF-checked forms either way.

Approving, for a person with a second factor, needs one shown in the last
``mfa_recent_window`` seconds (RFC 9470 step-up, as for removing a passkey): otherwise
the answer is a page that shows the request again and asks for a code or a passkey,
records the step-up on the session (a fresh ``aal2`` access cookie), then approves.
Denying needs nothing more: it only takes authority away.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData
from starlette.responses import JSONResponse, RedirectResponse, Response

from authgate.errors import (
    ApprovalError,
    CsrfError,
    SecondFactorError,
    SecondFactorLockedError,
    StepUpRequiredError,
)
from authgate.http.cookies import set_access_cookie
from authgate.http.credentials import device_info
from authgate.http.dependencies import check_authentication, get_runtime
from authgate.http.pages.account import ACCOUNT, form_action
from authgate.http.pages.approval_view import ApprovalView, pending_views
from authgate.http.pages.browser import BrowserSession, browser_session
from authgate.http.pages.forms import read_form, text
from authgate.http.pages.templates import PAGE_HEADERS, error_page, render
from authgate.runtime import Runtime
from authgate.storage.models import User
from authgate.tokens.issuer import IssuedToken

__all__ = ["APPROVALS", "router"]

router = APIRouter(include_in_schema=False)
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]

APPROVALS = "/account/approvals"
_ID_LIMIT = 128
_TOKEN_LIMIT = 64
_CREDENTIAL_LIMIT = 32 * 1024


def _json(body: dict[str, Any], status_code: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status_code, headers=PAGE_HEADERS)


@router.get(APPROVALS)
async def waiting(request: Request, runtime: RuntimeDep) -> Response:
    """The signed-in person's waiting requests; 401 once the browser is signed out."""
    current = await browser_session(request, runtime)
    if current is None:
        return _json({"error": "signed_out", "message": "Sign in again."}, 401)
    views = await pending_views(runtime, current.principal.id)
    response = _json({"approvals": [view.as_json() for view in views]})
    return current.keep(response, secure=runtime.settings.secure_cookies)


def _not_waiting(request: Request, runtime: Runtime, status_code: int) -> Response:
    # The same words for an unknown id, another person's and one already answered or
    # expired, so an id tells nothing about anyone else's requests.
    return error_page(
        request,
        secure=runtime.settings.secure_cookies,
        status_code=status_code,
        heading="Nothing to answer",
        message="This request is not waiting for you: it may have expired or been "
        "answered already.",
        back_url=ACCOUNT,
        back_label="Back to your account",
    )


def _kept(current: BrowserSession, runtime: Runtime, response: Response) -> Response:
    return current.keep(response, secure=runtime.settings.secure_cookies)


def _answered(current: BrowserSession, runtime: Runtime, notice: str) -> Response:
    redirect = RedirectResponse(f"{ACCOUNT}?notice={notice}", status_code=303)
    return current.keep(redirect, secure=runtime.settings.secure_cookies)


async def _decide(
    request: Request, runtime: Runtime, current: BrowserSession, approval_id: str, approve: bool
) -> Response:
    decide = runtime.approvals.approve if approve else runtime.approvals.deny
    try:
        await decide(approval_id, user_id=current.principal.id, device=device_info(request))
    except ApprovalError as exc:  # 404 unknown or another person's; 409 decided or expired
        return _kept(current, runtime, _not_waiting(request, runtime, exc.status_code))
    return _answered(current, runtime, "approval_approved" if approve else "approval_denied")


@router.post(f"{APPROVALS}/deny")
async def deny(request: Request, runtime: RuntimeDep) -> Response:
    checked = await form_action(request, runtime)
    if isinstance(checked, Response):
        return checked
    form, current = checked
    return await _decide(request, runtime, current, text(form, "approval", limit=_ID_LIMIT), False)


@router.post(f"{APPROVALS}/approve")
async def approve(request: Request, runtime: RuntimeDep) -> Response:
    checked = await form_action(request, runtime)
    if isinstance(checked, Response):
        return checked
    form, current = checked
    approval_id = text(form, "approval", limit=_ID_LIMIT)
    views = await pending_views(runtime, current.principal.id)
    view = next((v for v in views if v.id == approval_id), None)
    user = await runtime.store.user_by_id(current.principal.id)
    if view is None or user is None or not user.is_active:
        return _kept(current, runtime, _not_waiting(request, runtime, 404))
    access = None
    if await _needs_step_up(runtime, current, user):
        stepped = await _step_up(request, runtime, current, user, form, view)
        if isinstance(stepped, Response):
            return stepped
        access = stepped
    response = await _decide(request, runtime, current, approval_id, True)
    if access is not None:  # after the session's cookies, so the fresh aal2 token wins
        set_access_cookie(response, access, secure=runtime.settings.secure_cookies)
    return response


async def _needs_step_up(runtime: Runtime, current: BrowserSession, user: User) -> bool:
    if not await runtime.mfa.enabled(user):
        return False
    try:
        window = runtime.settings.mfa_recent_window
        check_authentication(current.principal, runtime.clock(), True, window)
    except StepUpRequiredError:
        return True
    return False


async def _step_up(
    request: Request,
    runtime: Runtime,
    current: BrowserSession,
    user: User,
    form: FormData,
    view: ApprovalView,
) -> Response | IssuedToken:
    """A fresh access token once the form's second factor is right, else the page asking."""
    if not any(text(form, name, limit=1) for name in ("code", "recovery_code", "credential")):
        return await _confirm_page(request, runtime, current, user, view)
    try:
        method = await _second_factor(runtime, user, form)
    except (SecondFactorError, SecondFactorLockedError) as exc:
        await runtime.audit.record("mfa.failure", user_id=user.id, device=device_info(request))
        status = 429 if isinstance(exc, SecondFactorLockedError) else 400
        return await _confirm_page(request, runtime, current, user, view, exc.message, status)
    return await _record_step_up(request, runtime, current, user, method)


async def _second_factor(runtime: Runtime, user: User, form: FormData) -> str:
    """The method (RFC 8176 ``amr``) of the factor in the form; raises when it is wrong."""
    if text(form, "credential", limit=1):
        try:
            credential = json.loads(text(form, "credential", limit=_CREDENTIAL_LIMIT))
        except ValueError:
            credential = None
        if not isinstance(credential, dict):
            raise SecondFactorError("The passkey answer was not readable")
        ceremony = text(form, "ceremony", limit=_TOKEN_LIMIT)
        assertion = await runtime.passkeys.authenticate(ceremony, credential)
        if assertion.user_id != user.id:
            raise SecondFactorError("This passkey is not yours")
        return "hwk"
    return await runtime.mfa.verify(
        user,
        code=text(form, "code", limit=16),
        recovery_code=text(form, "recovery_code", limit=64),
    )


async def _record_step_up(
    request: Request, runtime: Runtime, current: BrowserSession, user: User, method: str
) -> IssuedToken:
    """As ``POST /auth/mfa/verify``: the session shows the factor now (RFC 9470)."""
    principal = current.principal
    amr = sorted({*principal.amr, method})
    await runtime.accounts.record_second_factor(principal.session_id, amr, int(runtime.clock()))
    access = await runtime.auth.reissue_access(user, principal.session_id)
    await runtime.audit.record(
        "mfa.step_up", user_id=user.id, session_id=principal.session_id, device=device_info(request)
    )
    return access


async def _confirm_page(
    request: Request,
    runtime: Runtime,
    current: BrowserSession,
    user: User,
    view: ApprovalView,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    secure = runtime.settings.secure_cookies
    page = render(
        request,
        "approval_confirm.html",
        secure=secure,
        status_code=status_code,
        signed_in=user.email,
        approval=view,
        totp=user.totp_enabled_at is not None,
        passkeys=await runtime.accounts.passkey_count(user.id) > 0,
        notice=None,
        error=error,
    )
    return current.keep(page, secure=secure)


@router.post(f"{APPROVALS}/passkey-options")
async def passkey_options(request: Request, runtime: RuntimeDep) -> Response:
    """A passkey ceremony for the signed-in person's own passkeys (the step-up above)."""
    try:
        await read_form(request, secure=runtime.settings.secure_cookies)
    except CsrfError as exc:
        return _json({"message": exc.message}, 403)
    current = await browser_session(request, runtime)
    if current is None:
        return _json({"message": "Sign in again."}, 401)
    ceremony, options = await runtime.passkeys.authentication_options(current.principal.id)
    response = _json({"ceremony": ceremony, "options": options})
    return current.keep(response, secure=runtime.settings.secure_cookies)
