"""``/login``, ``/register`` and ``/logout``: the same services as the JSON API, as forms.

After a POST the browser is sent on with 303 (RFC 9700 s4.12) to an allow-listed path
(s4.11). Wrong password and unknown email get the same message (ASVS V6.3.8).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from authgate.accounts.users import check_email, normalise_email
from authgate.errors import (
    CsrfError,
    InvalidCredentialsError,
    InvalidRequestError,
    PasswordPolicyError,
    RegistrationError,
)
from authgate.http.cookies import clear_auth_cookies, set_auth_cookies
from authgate.http.credentials import device_info
from authgate.http.dependencies import get_runtime
from authgate.http.error_responses import RETRY_AFTER
from authgate.http.pages.browser import browser_session
from authgate.http.pages.failures import failure_message
from authgate.http.pages.forms import read_form, text
from authgate.http.pages.next_target import safe_next
from authgate.http.pages.providers import provider_buttons, provider_label
from authgate.http.pages.second_factor import mfa_step
from authgate.http.pages.templates import error_page, render
from authgate.http.pages.throttle import LoginThrottle, wait_message
from authgate.ratelimit import Decision, StoreUnavailable
from authgate.runtime import Runtime
from authgate.sessions.service import TokenPair

__all__ = ["FORM_EXPIRED", "form_expired", "router"]

router = APIRouter(include_in_schema=False)
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]

FORM_EXPIRED = "This form has expired. Please try again."
_MISSING = "Enter your email and password."
_NOTICES = {
    "signed_out": "You have signed out.",
    "signed_out_everywhere": "You have signed out on every device.",
    "session_ended": "Your session has ended. Please sign in again.",
    "password_reset": "Your password has been changed and every device signed out. "
    "Sign in with the new password.",
    "password_changed": "Your password has been changed; other devices were signed out.",
    "account_deleted": "Your account has been deleted.",
}
_MAX_EMAIL = 320
_MAX_PASSWORD = 4096
_MAX_NAME = 200


def _login_page(
    request: Request,
    runtime: Runtime,
    *,
    next_path: str,
    status_code: int = 200,
    email: str = "",
    error: str | None = None,
    notice: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    settings = runtime.settings
    response = render(
        request,
        "login.html",
        secure=settings.secure_cookies,
        status_code=status_code,
        next=next_path,
        email=email,
        error=error,
        notice=notice,
        providers=provider_buttons(runtime, next_path),
        registration_enabled=settings.registration_enabled,
        register_url=_with_next("/register", next_path),
    )
    response.headers.update(headers or {})
    return response


def _with_next(path: str, next_path: str) -> str:
    return f"{path}?{urlencode({'next': next_path})}"


def _signed_in(pair: TokenPair, next_path: str, runtime: Runtime) -> Response:
    response = RedirectResponse(next_path, status_code=303)
    set_auth_cookies(response, pair, secure=runtime.settings.secure_cookies)
    return response


@router.get("/login")
async def login_page(request: Request, runtime: RuntimeDep) -> Response:
    params = request.query_params
    next_path = safe_next(params.get("next"))
    current = await browser_session(request, runtime)
    if current is not None:
        redirect = RedirectResponse(next_path, status_code=303)
        return current.keep(redirect, secure=runtime.settings.secure_cookies)
    error = None
    if "error" in params:
        label = provider_label(runtime, params.get("provider"))
        error = failure_message(params.get("error"), label)
    notice = _NOTICES.get(params.get("notice", ""))
    return _login_page(request, runtime, next_path=next_path, error=error, notice=notice)


@router.post("/login")
async def login_submit(request: Request, runtime: RuntimeDep) -> Response:
    secure = runtime.settings.secure_cookies
    try:
        form = await read_form(request, secure=secure)
    except CsrfError:
        return _login_page(
            request, runtime, next_path=safe_next(None), status_code=403, error=FORM_EXPIRED
        )
    next_path = safe_next(text(form, "next", limit=2048))
    email = text(form, "email", limit=_MAX_EMAIL)
    password = text(form, "password", limit=_MAX_PASSWORD)
    page: dict[str, Any] = {"next_path": next_path, "email": email, "status_code": 400}
    if not email.strip() or not password:
        return _login_page(request, runtime, error=_MISSING, **page)
    device = device_info(request)
    throttle = LoginThrottle(runtime, device, email)
    try:
        limit = await throttle.reserve()
        if limit is not None:
            return _rate_limited(request, runtime, limit, page)
        user = await runtime.users.authenticate(email, password)
    except InvalidCredentialsError as exc:
        # The reservation stands: this was a failed attempt.
        await runtime.audit.record("login.failure", device=device, email=normalise_email(email))
        return _login_page(request, runtime, error=exc.message, **page)
    except StoreUnavailable:
        return _unavailable(request, runtime)
    await throttle.succeeded()
    if await runtime.mfa.enabled(user):
        return await mfa_step(request, runtime, user, next_path)
    pair = await runtime.auth.start_session(user, device)
    return _signed_in(pair, next_path, runtime)


def _rate_limited(
    request: Request, runtime: Runtime, limit: Decision, page: dict[str, Any]
) -> Response:
    wait = wait_message(limit.reset_after)
    return _login_page(
        request,
        runtime,
        **{**page, "status_code": 429},
        error=f"Too many sign-in attempts. Please wait {wait} before trying again.",
        headers={"Retry-After": str(limit.reset_after)},
    )


def _unavailable(request: Request, runtime: Runtime) -> Response:
    page = error_page(
        request,
        secure=runtime.settings.secure_cookies,
        status_code=503,
        heading="Sign-in is unavailable",
        message="Signing in is briefly unavailable. Please try again in a minute.",
        back_url="/login",
        back_label="Back to sign in",
    )
    page.headers.update(RETRY_AFTER)
    return page


def _register_page(
    request: Request,
    runtime: Runtime,
    *,
    next_path: str,
    status_code: int = 200,
    email: str = "",
    name: str = "",
    error: str | None = None,
) -> Response:
    settings = runtime.settings
    return render(
        request,
        "register.html",
        secure=settings.secure_cookies,
        status_code=status_code,
        next=next_path,
        email=email,
        name=name,
        error=error,
        notice=None,
        password_min=settings.password_min_length,
        password_max=settings.password_max_length,
        login_url=_with_next("/login", next_path),
    )


def _registration_closed(request: Request, runtime: Runtime) -> Response:
    return error_page(
        request,
        secure=runtime.settings.secure_cookies,
        status_code=404,
        heading="Registration is closed",
        message="New accounts cannot be created here. Ask an administrator for an account.",
        back_url="/login",
        back_label="Back to sign in",
    )


@router.get("/register")
async def register_page(request: Request, runtime: RuntimeDep) -> Response:
    if not runtime.settings.registration_enabled:
        return _registration_closed(request, runtime)
    next_path = safe_next(request.query_params.get("next"))
    return _register_page(request, runtime, next_path=next_path)


@router.post("/register")
async def register_submit(request: Request, runtime: RuntimeDep) -> Response:
    if not runtime.settings.registration_enabled:
        return _registration_closed(request, runtime)
    try:
        form = await read_form(request, secure=runtime.settings.secure_cookies)
    except CsrfError:
        return _register_page(
            request, runtime, next_path=safe_next(None), status_code=403, error=FORM_EXPIRED
        )
    next_path = safe_next(text(form, "next", limit=2048))
    email = text(form, "email", limit=_MAX_EMAIL).strip()
    name = text(form, "name", limit=_MAX_NAME).strip()
    page: dict[str, Any] = {"next_path": next_path, "email": email, "name": name}
    try:
        email = check_email(email)
    except InvalidRequestError:
        return _register_page(
            request, runtime, status_code=400, error="Enter a valid email address.", **page
        )
    password = text(form, "password", limit=_MAX_PASSWORD)
    device = device_info(request)
    try:
        limit = await LoginThrottle(runtime, device, email).register_blocked()
    except StoreUnavailable:
        return _unavailable(request, runtime)
    if limit is not None:
        wait = wait_message(limit.reset_after)
        return _register_page(
            request,
            runtime,
            status_code=429,
            error=f"Too many new accounts from your network. Please wait {wait}.",
            **page,
        )
    try:
        user = await runtime.users.register(email, password, name or None)
    except (PasswordPolicyError, RegistrationError) as exc:
        status = 400 if isinstance(exc, PasswordPolicyError) else exc.status_code
        return _register_page(request, runtime, status_code=status, error=exc.message, **page)
    await runtime.audit.record("user.registered", user_id=user.id, device=device)
    await runtime.verification.send(user)
    pair = await runtime.auth.start_session(user, device)
    return _signed_in(pair, next_path, runtime)


def form_expired(request: Request, runtime: Runtime) -> Response:
    return error_page(
        request,
        secure=runtime.settings.secure_cookies,
        status_code=403,
        heading="Please try again",
        message=FORM_EXPIRED + " Go back to the page, reload it, and submit it again.",
        back_url="/account",
        back_label="Back to your account",
    )


@router.post("/logout")
async def logout(request: Request, runtime: RuntimeDep) -> Response:
    secure = runtime.settings.secure_cookies
    try:
        await read_form(request, secure=secure)
    except CsrfError:
        return form_expired(request, runtime)
    current = await browser_session(request, runtime)
    if current is not None:
        principal = current.principal
        await runtime.auth.logout(principal.session_id, principal.id, device_info(request))
    response = RedirectResponse("/login?notice=signed_out", status_code=303)
    clear_auth_cookies(response, secure=secure)
    return response
