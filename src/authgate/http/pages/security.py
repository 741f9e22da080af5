"""The security forms of ``/account``: password, email confirmation, authenticator app,
passkeys (add, name, remove) and deleting the account.

Each form checks its CSRF field, then the signed-in browser session (see ``account``).
Turning the authenticator app off asks for one of its codes, and removing a passkey
needs a second factor shown in the last ``mfa_recent_window`` seconds.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from authgate.accounts.mfa import qr_svg
from authgate.errors import (
    AuthgateError,
    CsrfError,
    InvalidCredentialsError,
    InvalidRequestError,
    NotFoundError,
    PasswordPolicyError,
    SecondFactorError,
    StepUpRequiredError,
)
from authgate.http.cookies import clear_auth_cookies
from authgate.http.credentials import device_info
from authgate.http.dependencies import check_authentication, get_runtime
from authgate.http.pages.account import ACCOUNT, form_action, signed_in
from authgate.http.pages.browser import BrowserSession
from authgate.http.pages.forms import read_form, text
from authgate.http.pages.templates import PAGE_HEADERS, error_page, render
from authgate.runtime import Runtime
from authgate.storage.models import User

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
_ID_LIMIT = 1400


def _back(current: BrowserSession, runtime: Runtime, notice: str) -> Response:
    redirect = RedirectResponse(f"{ACCOUNT}?notice={notice}", status_code=303)
    return current.keep(redirect, secure=runtime.settings.secure_cookies)


def _problem(request: Request, runtime: Runtime, message: str, status: int = 400) -> Response:
    return error_page(
        request,
        secure=runtime.settings.secure_cookies,
        status_code=status,
        heading="That did not work",
        message=message,
        back_url=ACCOUNT,
        back_label="Back to your account",
    )


async def _user(runtime: Runtime, current: BrowserSession) -> User | None:
    user = await runtime.store.user_by_id(current.principal.id)
    return user if user is not None and user.is_active else None


async def _checked(
    request: Request, runtime: Runtime
) -> tuple[Any, BrowserSession, User] | Response:
    checked = await form_action(request, runtime)
    if isinstance(checked, Response):
        return checked
    form, current = checked
    user = await _user(runtime, current)
    if user is None:
        return _problem(request, runtime, "Your account is not available.", 403)
    return form, current, user


@router.post("/account/password")
async def change_password(request: Request, runtime: RuntimeDep) -> Response:
    checked = await _checked(request, runtime)
    if isinstance(checked, Response):
        return checked
    form, current, user = checked
    try:
        await runtime.users.change_password(
            user, text(form, "current_password", limit=4096), text(form, "new_password", limit=4096)
        )
    except (InvalidCredentialsError, PasswordPolicyError) as exc:
        return _problem(request, runtime, exc.message)
    device = device_info(request)
    await runtime.auth.revoke_user_sessions(
        user.id, "password_changed", device=device, keep=current.principal.session_id
    )
    await runtime.audit.record("password.changed", user_id=user.id, device=device)
    return _back(current, runtime, "password_changed")


@router.post("/account/email/resend")
async def resend(request: Request, runtime: RuntimeDep) -> Response:
    checked = await _checked(request, runtime)
    if isinstance(checked, Response):
        return checked
    _form, current, user = checked
    await runtime.verification.send(user)
    return _back(current, runtime, "verification_sent")


@router.post("/account/mfa/totp/start")
async def totp_start(request: Request, runtime: RuntimeDep) -> Response:
    checked = await _checked(request, runtime)
    if isinstance(checked, Response):
        return checked
    _form, current, user = checked
    try:
        enrolment = await runtime.mfa.begin_totp(user)
    except InvalidRequestError as exc:
        return _problem(request, runtime, exc.message)
    page = render(
        request,
        "totp.html",
        secure=runtime.settings.secure_cookies,
        signed_in=user.email,
        secret=enrolment.secret,
        codes=None,
        notice=None,
        error=None,
    )
    return current.keep(page, secure=runtime.settings.secure_cookies)


@router.get("/account/mfa/totp/qr.svg")
async def totp_qr(request: Request, runtime: RuntimeDep) -> Response:
    current = await signed_in(request, runtime)
    if isinstance(current, Response):
        return current
    user = await _user(runtime, current)
    uri = await runtime.mfa.pending_uri(user) if user is not None else None
    if uri is None:
        return Response(status_code=404, headers=PAGE_HEADERS)
    return Response(qr_svg(uri), media_type="image/svg+xml", headers=PAGE_HEADERS)


@router.post("/account/mfa/totp/confirm")
async def totp_confirm(request: Request, runtime: RuntimeDep) -> Response:
    checked = await _checked(request, runtime)
    if isinstance(checked, Response):
        return checked
    form, current, user = checked
    try:
        codes = await runtime.mfa.confirm_totp(user, text(form, "code", limit=16))
    except (SecondFactorError, InvalidRequestError) as exc:
        return _problem(request, runtime, exc.message)
    principal = current.principal
    amr = sorted({*principal.amr, "otp"})
    await runtime.accounts.record_second_factor(principal.session_id, amr, int(runtime.clock()))
    await runtime.audit.record("mfa.totp_enabled", user_id=user.id)
    secure = runtime.settings.secure_cookies
    page = render(
        request, "totp.html", secure=secure, signed_in=user.email, secret="", codes=codes,
        notice=None, error=None,
    )  # fmt: skip
    return current.keep(page, secure=secure)


@router.post("/account/mfa/totp/disable")
async def totp_disable(request: Request, runtime: RuntimeDep) -> Response:
    checked = await _checked(request, runtime)
    if isinstance(checked, Response):
        return checked
    form, current, user = checked
    try:
        await runtime.mfa.verify(user, code=text(form, "code", limit=16))
    except SecondFactorError as exc:
        return _problem(request, runtime, exc.message)
    await runtime.mfa.disable_totp(user)
    await runtime.audit.record("mfa.totp_disabled", user_id=user.id)
    return _back(current, runtime, "totp_disabled")


def _json(body: dict[str, Any], status_code: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status_code, headers=PAGE_HEADERS)


async def _json_action(request: Request, runtime: Runtime) -> tuple[Any, User] | Response:
    try:
        form = await read_form(request, secure=runtime.settings.secure_cookies)
    except CsrfError as exc:
        return _json({"message": exc.message}, 403)
    current = await signed_in(request, runtime)
    user = None if isinstance(current, Response) else await _user(runtime, current)
    if user is None or isinstance(current, Response):
        return _json({"message": "Sign in again to add a passkey."}, 401)
    try:
        await _recent_factor(runtime, current, user)
    except StepUpRequiredError as exc:
        return _json({"message": exc.message}, 401)
    return form, user


async def _recent_factor(runtime: Runtime, current: BrowserSession, user: User) -> None:
    if await runtime.mfa.enabled(user):
        window = runtime.settings.mfa_recent_window
        check_authentication(current.principal, runtime.clock(), True, window)


@router.post("/account/passkeys/options")
async def passkey_options(request: Request, runtime: RuntimeDep) -> Response:
    checked = await _json_action(request, runtime)
    if isinstance(checked, Response):
        return checked
    return _json(await runtime.passkeys.registration_options(checked[1]))


@router.post("/account/passkeys/add")
async def passkey_add(request: Request, runtime: RuntimeDep) -> Response:
    checked = await _json_action(request, runtime)
    if isinstance(checked, Response):
        return checked
    form, user = checked
    try:
        credential = json.loads(text(form, "credential", limit=32 * 1024) or "null")
        if not isinstance(credential, dict):
            raise ValueError("not an object")
        await runtime.passkeys.register(user, credential, text(form, "name", limit=100))
    except (ValueError, SecondFactorError) as exc:
        message = exc.message if isinstance(exc, AuthgateError) else "Unreadable answer."
        return _json({"message": message}, 400)
    await runtime.audit.record("mfa.passkey_added", user_id=user.id)
    return _json({"ok": True})


@router.post("/account/passkeys/rename")
async def passkey_rename(request: Request, runtime: RuntimeDep) -> Response:
    checked = await _checked(request, runtime)
    if isinstance(checked, Response):
        return checked
    form, current, user = checked
    try:
        await runtime.passkeys.rename(
            user.id, text(form, "passkey", limit=_ID_LIMIT), text(form, "name", limit=100)
        )
    except NotFoundError:
        return _problem(request, runtime, "That passkey is not on your account.", 404)
    return _back(current, runtime, "passkey_renamed")


@router.post("/account/passkeys/remove")
async def passkey_remove(request: Request, runtime: RuntimeDep) -> Response:
    checked = await _checked(request, runtime)
    if isinstance(checked, Response):
        return checked
    form, current, user = checked
    try:
        await _recent_factor(runtime, current, user)
        await runtime.passkeys.remove(user.id, text(form, "passkey", limit=_ID_LIMIT))
    except StepUpRequiredError:
        return _problem(
            request, runtime, "Sign out and in again with your second factor, then remove it.", 401
        )
    except NotFoundError:
        return _problem(request, runtime, "That passkey is not on your account.", 404)
    await runtime.audit.record("mfa.passkey_removed", user_id=user.id)
    return _back(current, runtime, "passkey_removed")


async def _confirmed(runtime: Runtime, current: BrowserSession, user: User, password: str) -> bool:
    """The password, or for an account without one (provider sign-in only) a sign-in
    in the last ``mfa_recent_window`` seconds."""
    if user.password_hash is not None:
        return await runtime.users.password_matches(user, password)
    try:
        check_authentication(
            current.principal, runtime.clock(), False, runtime.settings.mfa_recent_window
        )
    except StepUpRequiredError:
        return False
    return True


@router.post("/account/delete")
async def delete_account(request: Request, runtime: RuntimeDep) -> Response:
    checked = await _checked(request, runtime)
    if isinstance(checked, Response):
        return checked
    form, current, user = checked
    if not await _confirmed(runtime, current, user, text(form, "password", limit=4096)):
        return _problem(request, runtime, "The password is not correct.", 401)
    await runtime.admin.delete(user.id, by="self")
    response = RedirectResponse("/login?notice=account_deleted", status_code=303)
    clear_auth_cookies(response, secure=runtime.settings.secure_cookies)
    return response
