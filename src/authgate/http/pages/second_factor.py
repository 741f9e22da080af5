"""The second step of signing in on the pages, and passkey sign-in.

After a right password, a person with a second factor gets ``mfa.html``: a TOTP or
recovery code form and, with a passkey, the passkey button (``/static/passkeys.js``).
The step carries a single-use, five-minute challenge, never the password. Passkey
sign-in without a password uses the same endpoints without the challenge.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from authgate.errors import CsrfError, SecondFactorError, SecondFactorLockedError
from authgate.http.cookies import set_auth_cookies
from authgate.http.credentials import device_info
from authgate.http.dependencies import get_runtime
from authgate.http.pages.forms import read_form, text
from authgate.http.pages.next_target import safe_next
from authgate.http.pages.templates import PAGE_HEADERS, render
from authgate.http.routes.passkeys import passkey_sign_in
from authgate.runtime import Runtime
from authgate.storage.models import User

__all__ = ["mfa_step", "router"]

router = APIRouter(include_in_schema=False)
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
_TOKEN_LIMIT = 64
_CREDENTIAL_LIMIT = 32 * 1024


async def mfa_step(
    request: Request,
    runtime: Runtime,
    user: User,
    next_path: str,
    *,
    token: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    """The second-factor page for ``user``, with a fresh challenge unless one is given."""
    token = token or await runtime.mfa.start_challenge(user.id)
    return render(
        request,
        "mfa.html",
        secure=runtime.settings.secure_cookies,
        status_code=status_code,
        next=next_path,
        mfa_token=token,
        totp=user.totp_enabled_at is not None,
        passkeys=await runtime.accounts.passkey_count(user.id) > 0,
        notice=None,
        error=error,
    )


def _expired(request: Request, runtime: Runtime, status_code: int = 400) -> Response:
    return render(
        request,
        "mfa.html",
        secure=runtime.settings.secure_cookies,
        status_code=status_code,
        next="/account",
        mfa_token="",
        totp=False,
        passkeys=False,
        notice=None,
        error="This sign-in has expired. Start again with your password.",
    )


@router.post("/login/mfa")
async def code_submit(request: Request, runtime: RuntimeDep) -> Response:
    secure = runtime.settings.secure_cookies
    try:
        form = await read_form(request, secure=secure)
    except CsrfError:
        return _expired(request, runtime, 403)
    next_path = safe_next(text(form, "next", limit=2048))
    token = text(form, "mfa_token", limit=_TOKEN_LIMIT)
    user_id = await runtime.mfa.take_challenge(token)
    user = await runtime.store.user_by_id(user_id) if user_id else None
    if user is None or not user.is_active:
        return _expired(request, runtime)
    try:
        method = await runtime.mfa.verify(
            user,
            code=text(form, "code", limit=16),
            recovery_code=text(form, "recovery_code", limit=64),
        )
    except (SecondFactorError, SecondFactorLockedError) as exc:
        locked = isinstance(exc, SecondFactorLockedError)
        await runtime.mfa.keep_challenge(token, user.id)
        await runtime.audit.record("mfa.failure", user_id=user.id, device=device_info(request))
        return await mfa_step(
            request,
            runtime,
            user,
            next_path,
            token=token,
            error=exc.message,
            status_code=429 if locked else 400,
        )
    pair = await runtime.auth.start_session(user, device_info(request), amr=["pwd", method])
    response = RedirectResponse(next_path, status_code=303)
    set_auth_cookies(response, pair, secure=secure)
    return response


def _json(body: dict[str, Any], status_code: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status_code, headers=PAGE_HEADERS)


@router.post("/login/passkey/options")
async def passkey_options(request: Request, runtime: RuntimeDep) -> Response:
    try:
        form = await read_form(request, secure=runtime.settings.secure_cookies)
    except CsrfError as exc:
        return _json({"message": exc.message}, 403)
    token = text(form, "mfa_token", limit=_TOKEN_LIMIT)
    user_id = await runtime.mfa.take_challenge(token) if token else None
    if token and user_id is None:
        return _json({"message": "This sign-in has expired; start again."}, 400)
    if token and user_id:
        await runtime.mfa.keep_challenge(token, user_id)
    ceremony, options = await runtime.passkeys.authentication_options(user_id)
    return _json({"ceremony": ceremony, "options": options})


@router.post("/login/passkey")
async def passkey_submit(request: Request, runtime: RuntimeDep) -> Response:
    secure = runtime.settings.secure_cookies
    try:
        form = await read_form(request, secure=secure)
        credential = json.loads(text(form, "credential", limit=_CREDENTIAL_LIMIT) or "null")
    except CsrfError as exc:
        return _json({"message": exc.message}, 403)
    except ValueError:
        credential = None
    if not isinstance(credential, dict):
        return _json({"message": "The passkey answer was not readable."}, 400)
    try:
        user, amr = await passkey_sign_in(
            runtime,
            text(form, "ceremony", limit=_TOKEN_LIMIT),
            credential,
            text(form, "mfa_token", limit=_TOKEN_LIMIT),
        )
    except SecondFactorError as exc:
        return _json({"message": exc.message}, 401)
    pair = await runtime.auth.start_session(user, device_info(request), amr=amr)
    response = _json({"redirect": safe_next(text(form, "next", limit=2048))})
    set_auth_cookies(response, pair, secure=secure)
    return response
