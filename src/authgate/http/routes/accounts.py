"""``/auth/email``, ``/auth/password``, ``/auth/login/mfa``, ``/auth/mfa``: the account
lifecycle over JSON (docs/accounts.md).

Mailed links carry a single-use key; forgot-password answers 202 with the same body for
every address, before any lookup (ASVS V6.3.8). Second factors follow RFC 6238 (TOTP);
a step-up returns a fresh access token whose ``acr`` is ``aal2`` (RFC 9470).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from authgate.errors import FeatureUnavailableError, InvalidCredentialsError, SecondFactorError
from authgate.http.credentials import device_info
from authgate.http.dependencies import check_authentication, get_runtime, require
from authgate.http.routes.auth import NO_STORE, json_only, token_response, user_json
from authgate.principal import Principal
from authgate.runtime import Runtime
from authgate.storage.models import User

__all__ = ["require_recent_factor", "router"]

router = APIRouter(prefix="/auth", tags=["accounts"], dependencies=[Depends(json_only)])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
UserOnly = Annotated[Principal, Depends(require(delegation="forbid"))]

Password = Annotated[str, Field(min_length=1, max_length=4096)]
Key = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Code = Annotated[str, StringConstraints(max_length=64)]
FORGOT_ANSWER = {
    "message": "If an account uses this address, a link to reset its password is on its way"
}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LinkBody(_Body):
    token: Key


class EmailChangeBody(_Body):
    newEmail: EmailStr
    password: Password


class ForgotBody(_Body):
    email: Annotated[str, StringConstraints(min_length=1, max_length=320)]


class ResetBody(_Body):
    token: Key
    password: Password


class ChangePasswordBody(_Body):
    currentPassword: Password
    newPassword: Password


class CodeBody(_Body):
    code: Code = ""
    recoveryCode: Code = ""


class MfaLoginBody(CodeBody):
    mfaToken: Key
    useCookies: bool = False


async def current_user(runtime: Runtime, principal: Principal) -> User:
    user = await runtime.store.user_by_id(principal.id)
    if user is None or not user.is_active:
        raise InvalidCredentialsError()
    return user


async def require_recent_factor(runtime: Runtime, principal: Principal, user: User) -> None:
    """Sensitive actions need a recent second factor from a person who has one."""
    if await runtime.mfa.enabled(user):
        window = runtime.settings.mfa_recent_window
        check_authentication(principal, runtime.clock(), True, window)


# Email verification and change


@router.post("/email/verify")
async def verify_email(body: LinkBody, runtime: RuntimeDep) -> dict[str, Any]:
    user = await runtime.verification.confirm(body.token)
    await runtime.audit.record("user.email_verified", user_id=user.id)
    return {"user": user_json(user, runtime.settings.permissions_for(list(user.roles)))}


@router.post("/email/resend", status_code=202)
async def resend_verification(principal: UserOnly, runtime: RuntimeDep) -> dict[str, Any]:
    if not runtime.verification.enabled:
        raise FeatureUnavailableError()
    user = await current_user(runtime, principal)
    sent = await runtime.verification.send(user)
    return {"sent": sent, "emailVerified": user.email_verified}


@router.post("/email/change", status_code=202)
async def change_email(
    body: EmailChangeBody, principal: UserOnly, runtime: RuntimeDep
) -> dict[str, Any]:
    user = await current_user(runtime, principal)
    if not await runtime.users.password_matches(user, body.password):
        raise InvalidCredentialsError("The password is not correct")
    await runtime.verification.request_change(user, str(body.newEmail))
    await runtime.audit.record("user.email_change_requested", user_id=user.id)
    return {"message": "Open the link we sent to the new address to complete the change"}


# Passwords


@router.post("/password/forgot", status_code=202)
async def forgot_password(body: ForgotBody, runtime: RuntimeDep) -> dict[str, Any]:
    if not runtime.recovery.enabled:
        raise FeatureUnavailableError()
    # All the work happens after the answer: known and unknown addresses look alike.
    runtime.outbox.later(runtime.recovery.request(body.email))
    return FORGOT_ANSWER


@router.post("/password/reset")
async def reset_password(body: ResetBody, runtime: RuntimeDep, request: Request) -> Any:
    if not runtime.recovery.enabled:
        raise FeatureUnavailableError()
    user = await runtime.recovery.reset(body.token, body.password)
    revoked = await runtime.auth.revoke_user_sessions(
        user.id, "password_reset", device=device_info(request)
    )
    await runtime.audit.record("password.reset", user_id=user.id, device=device_info(request))
    return {"success": True, "revokedSessions": revoked}


@router.post("/password/change")
async def change_password(
    body: ChangePasswordBody, principal: UserOnly, runtime: RuntimeDep, request: Request
) -> dict[str, Any]:
    user = await current_user(runtime, principal)
    await runtime.users.change_password(user, body.currentPassword, body.newPassword)
    revoked = await runtime.auth.revoke_user_sessions(
        user.id, "password_changed", device=device_info(request), keep=principal.session_id
    )
    await runtime.audit.record("password.changed", user_id=user.id, device=device_info(request))
    return {"success": True, "revokedSessions": revoked}


# Second factors


@router.post("/login/mfa")
async def login_second_factor(
    body: MfaLoginBody, runtime: RuntimeDep, request: Request
) -> JSONResponse:
    """The second step of a sign-in whose password was right: a TOTP or recovery code."""
    user_id = await runtime.mfa.take_challenge(body.mfaToken)
    user = await runtime.store.user_by_id(user_id) if user_id else None
    if user is None or not user.is_active:
        raise SecondFactorError("The sign-in has expired; start again with your password")
    try:
        method = await runtime.mfa.verify(user, code=body.code, recovery_code=body.recoveryCode)
    except SecondFactorError:
        await runtime.mfa.keep_challenge(body.mfaToken, user.id)
        await runtime.audit.record("mfa.failure", user_id=user.id, device=device_info(request))
        raise
    pair = await runtime.auth.start_session(user, device_info(request), amr=["pwd", method])
    extra = {"user": user_json(user, runtime.settings.permissions_for(list(user.roles)))}
    return token_response(runtime, pair, cookies=body.useCookies, extra=extra)


@router.get("/mfa")
async def mfa_state(principal: UserOnly, runtime: RuntimeDep) -> dict[str, Any]:
    user = await current_user(runtime, principal)
    return {
        "totp": user.totp_enabled_at is not None,
        "passkeys": await runtime.accounts.passkey_count(user.id),
        "recoveryCodesLeft": await runtime.accounts.recovery_codes_left(user.id),
        "acr": principal.acr,
    }


@router.post("/mfa/totp")
async def begin_totp(principal: UserOnly, runtime: RuntimeDep) -> JSONResponse:
    user = await current_user(runtime, principal)
    await require_recent_factor(runtime, principal, user)
    enrolment = await runtime.mfa.begin_totp(user)
    body = {"secret": enrolment.secret, "otpauthUri": enrolment.uri, "qrSvg": enrolment.qr_svg}
    return JSONResponse(body, headers=NO_STORE)


@router.post("/mfa/totp/confirm")
async def confirm_totp(body: CodeBody, principal: UserOnly, runtime: RuntimeDep) -> JSONResponse:
    user = await current_user(runtime, principal)
    codes = await runtime.mfa.confirm_totp(user, body.code)
    await runtime.accounts.record_second_factor(
        principal.session_id, sorted({*principal.amr, "otp"}), int(runtime.clock())
    )
    await runtime.audit.record("mfa.totp_enabled", user_id=user.id)
    return JSONResponse({"recoveryCodes": codes}, headers=NO_STORE)


@router.delete("/mfa/totp")
async def disable_totp(principal: UserOnly, runtime: RuntimeDep) -> dict[str, Any]:
    user = await current_user(runtime, principal)
    await require_recent_factor(runtime, principal, user)
    await runtime.mfa.disable_totp(user)
    await runtime.audit.record("mfa.totp_disabled", user_id=user.id)
    return {"success": True}


@router.post("/mfa/recovery-codes")
async def new_recovery_codes(principal: UserOnly, runtime: RuntimeDep) -> JSONResponse:
    user = await current_user(runtime, principal)
    await require_recent_factor(runtime, principal, user)
    codes = await runtime.mfa.new_recovery_codes(user)
    return JSONResponse({"recoveryCodes": codes}, headers=NO_STORE)


@router.post("/mfa/verify")
async def step_up(body: CodeBody, principal: UserOnly, runtime: RuntimeDep) -> JSONResponse:
    """RFC 9470 step-up: prove the second factor again; a fresh ``aal2`` access token."""
    user = await current_user(runtime, principal)
    method = await runtime.mfa.verify(user, code=body.code, recovery_code=body.recoveryCode)
    amr = sorted({*principal.amr, method})
    await runtime.accounts.record_second_factor(principal.session_id, amr, int(runtime.clock()))
    access = await runtime.auth.reissue_access(user, principal.session_id)
    await runtime.audit.record("mfa.step_up", user_id=user.id, session_id=principal.session_id)
    body_json = {
        "accessToken": access.token,
        "tokenType": "Bearer",
        "expiresIn": access.expires_at - access.issued_at,
    }
    return JSONResponse(body_json, headers=NO_STORE)
