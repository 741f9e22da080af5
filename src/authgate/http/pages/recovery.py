"""``/forgot-password``, ``/reset-password`` and ``/verify-email``: the pages behind the
mailed links.

A link's GET only shows a form: the key is spent by the POST, so a mail scanner that
prefetches links cannot use it up. Forgot-password shows the same page for every address
(ASVS V6.3.8); the lookup and the mail happen after the answer.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from authgate.errors import CsrfError, InvalidLinkError, PasswordPolicyError
from authgate.http.credentials import device_info
from authgate.http.dependencies import get_runtime
from authgate.http.pages.forms import read_form, text
from authgate.http.pages.login import form_expired
from authgate.http.pages.templates import error_page, render
from authgate.runtime import Runtime

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]

SENT = (
    "If an account uses this address, a link to reset its password is on its way. "
    "It works once, for {minutes} minutes."
)
_KEY_LIMIT = 64


def _unavailable(request: Request, runtime: Runtime) -> Response:
    return error_page(
        request,
        secure=runtime.settings.secure_cookies,
        status_code=404,
        heading="Password reset is not available",
        message="This server cannot send mail, so passwords cannot be reset by email. "
        "Ask an administrator.",
        back_url="/login",
        back_label="Back to sign in",
    )


def _bad_link(request: Request, runtime: Runtime, again: str) -> Response:
    return error_page(
        request,
        secure=runtime.settings.secure_cookies,
        status_code=400,
        heading="This link does not work",
        message=InvalidLinkError.message + ".",
        back_url=again,
        back_label="Ask for a new link" if again != "/account" else "Go to your account",
    )


@router.get("/forgot-password")
async def forgot_page(request: Request, runtime: RuntimeDep) -> Response:
    if not runtime.recovery.enabled:
        return _unavailable(request, runtime)
    secure = runtime.settings.secure_cookies
    return render(request, "forgot.html", secure=secure, sent=False, notice=None, error=None)


@router.post("/forgot-password")
async def forgot_submit(request: Request, runtime: RuntimeDep) -> Response:
    if not runtime.recovery.enabled:
        return _unavailable(request, runtime)
    secure = runtime.settings.secure_cookies
    try:
        form = await read_form(request, secure=secure)
    except CsrfError:
        return form_expired(request, runtime)
    runtime.outbox.later(runtime.recovery.request(text(form, "email", limit=320)))
    notice = SENT.format(minutes=runtime.settings.password_reset_ttl // 60)
    return render(request, "forgot.html", secure=secure, sent=True, notice=notice, error=None)


def _reset_page(
    request: Request, runtime: Runtime, key: str, *, error: str | None = None, status: int = 200
) -> Response:
    settings = runtime.settings
    return render(
        request,
        "reset.html",
        secure=settings.secure_cookies,
        status_code=status,
        key=key,
        notice=None,
        error=error,
        password_min=settings.password_min_length,
        password_max=settings.password_max_length,
    )


@router.get("/reset-password")
async def reset_page(request: Request, runtime: RuntimeDep) -> Response:
    if not runtime.recovery.enabled:
        return _unavailable(request, runtime)
    key = request.query_params.get("key", "")[:_KEY_LIMIT]
    try:
        await runtime.recovery.check(key)
    except InvalidLinkError:
        return _bad_link(request, runtime, "/forgot-password")
    return _reset_page(request, runtime, key)


@router.post("/reset-password")
async def reset_submit(request: Request, runtime: RuntimeDep) -> Response:
    if not runtime.recovery.enabled:
        return _unavailable(request, runtime)
    try:
        form = await read_form(request, secure=runtime.settings.secure_cookies)
    except CsrfError:
        return form_expired(request, runtime)
    key = text(form, "key", limit=_KEY_LIMIT)
    try:
        user = await runtime.recovery.reset(key, text(form, "password", limit=4096))
    except PasswordPolicyError as exc:
        return _reset_page(request, runtime, key, error=exc.message, status=400)
    except InvalidLinkError:
        return _bad_link(request, runtime, "/forgot-password")
    device = device_info(request)
    await runtime.auth.revoke_user_sessions(user.id, "password_reset", device=device)
    await runtime.audit.record("password.reset", user_id=user.id, device=device)
    return RedirectResponse("/login?notice=password_reset", status_code=303)


@router.get("/verify-email")
async def verify_page(request: Request, runtime: RuntimeDep) -> Response:
    key = request.query_params.get("key", "")[:_KEY_LIMIT]
    return render(
        request,
        "verify.html",
        secure=runtime.settings.secure_cookies,
        key=key,
        notice="Confirm that this address is yours." if key else None,
        error=None,
    )


@router.post("/verify-email")
async def verify_submit(request: Request, runtime: RuntimeDep) -> Response:
    secure = runtime.settings.secure_cookies
    try:
        form = await read_form(request, secure=secure)
    except CsrfError:
        return form_expired(request, runtime)
    try:
        user = await runtime.verification.confirm(text(form, "key", limit=_KEY_LIMIT))
    except InvalidLinkError:
        return _bad_link(request, runtime, "/account")
    await runtime.audit.record("user.email_verified", user_id=user.id)
    notice = f"Thank you: {user.email} is confirmed."
    return render(request, "verify.html", secure=secure, key="", notice=notice, error=None)
