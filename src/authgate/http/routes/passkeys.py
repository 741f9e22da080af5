"""``/auth/passkeys``: WebAuthn passkeys over JSON (docs/accounts.md).

Registering or removing a passkey needs a recent second factor when the person has one;
``/auth/passkeys/login`` signs in without a password (user verification required) or,
with the ``mfaToken`` of a right password, completes the sign-in as its second factor.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, StringConstraints

from authgate.accounts.passkeys import PasskeyAssertion
from authgate.errors import SecondFactorError
from authgate.http.credentials import device_info
from authgate.http.dependencies import get_runtime, require
from authgate.http.routes.accounts import current_user, require_recent_factor
from authgate.http.routes.auth import NO_STORE, iso, json_only, token_response, user_json
from authgate.principal import Principal
from authgate.runtime import Runtime
from authgate.storage.models import Passkey, User

__all__ = ["passkey_sign_in", "router"]

router = APIRouter(prefix="/auth/passkeys", tags=["passkeys"], dependencies=[Depends(json_only)])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
UserOnly = Annotated[Principal, Depends(require(delegation="forbid"))]
Name = Annotated[str, StringConstraints(max_length=100)]
Key = Annotated[str, StringConstraints(max_length=256)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterBody(_Body):
    credential: dict[str, Any]
    name: Name = "Passkey"


class RenameBody(_Body):
    name: Name


class LoginOptionsBody(_Body):
    mfaToken: Key = ""


class LoginBody(_Body):
    ceremony: Key
    credential: dict[str, Any]
    mfaToken: Key = ""
    useCookies: bool = False


def passkey_json(passkey: Passkey) -> dict[str, Any]:
    return {
        "id": passkey.credential_id,
        "name": passkey.name,
        "createdAt": iso(passkey.created_at),
        "lastUsedAt": iso(passkey.last_used_at),
    }


@router.get("")
async def list_passkeys(principal: UserOnly, runtime: RuntimeDep) -> dict[str, Any]:
    return {"passkeys": [passkey_json(p) for p in await runtime.passkeys.list(principal.id)]}


@router.post("/options")
async def registration_options(principal: UserOnly, runtime: RuntimeDep) -> JSONResponse:
    user = await current_user(runtime, principal)
    await require_recent_factor(runtime, principal, user)
    options = await runtime.passkeys.registration_options(user)
    return JSONResponse(options, headers=NO_STORE)


@router.post("", status_code=201)
async def register_passkey(
    body: RegisterBody, principal: UserOnly, runtime: RuntimeDep
) -> dict[str, Any]:
    user = await current_user(runtime, principal)
    passkey = await runtime.passkeys.register(user, body.credential, body.name)
    await runtime.audit.record("mfa.passkey_added", user_id=user.id)
    return {"passkey": passkey_json(passkey)}


@router.patch("/{credential_id}")
async def rename_passkey(
    credential_id: str, body: RenameBody, principal: UserOnly, runtime: RuntimeDep
) -> dict[str, Any]:
    await runtime.passkeys.rename(principal.id, credential_id, body.name)
    return {"success": True}


@router.delete("/{credential_id}")
async def remove_passkey(
    credential_id: str, principal: UserOnly, runtime: RuntimeDep
) -> dict[str, Any]:
    user = await current_user(runtime, principal)
    await require_recent_factor(runtime, principal, user)
    await runtime.passkeys.remove(user.id, credential_id)
    await runtime.audit.record("mfa.passkey_removed", user_id=user.id)
    return {"success": True}


@router.post("/login/options")
async def login_options(body: LoginOptionsBody, runtime: RuntimeDep) -> JSONResponse:
    user_id = await _challenge_user(runtime, body.mfaToken, keep=True)
    ceremony, options = await runtime.passkeys.authentication_options(user_id)
    return JSONResponse({"ceremony": ceremony, "options": options}, headers=NO_STORE)


@router.post("/login")
async def login(body: LoginBody, runtime: RuntimeDep, request: Request) -> JSONResponse:
    user, amr = await passkey_sign_in(runtime, body.ceremony, body.credential, body.mfaToken)
    pair = await runtime.auth.start_session(user, device_info(request), amr=amr)
    extra = {"user": user_json(user, runtime.settings.permissions_for(list(user.roles)))}
    return token_response(runtime, pair, cookies=body.useCookies, extra=extra)


class StepUpBody(_Body):
    ceremony: Key
    credential: dict[str, Any]


@router.post("/verify/options")
async def step_up_options(principal: UserOnly, runtime: RuntimeDep) -> JSONResponse:
    """RFC 9470 step-up with a passkey: a ceremony for this user's passkeys."""
    ceremony, options = await runtime.passkeys.authentication_options(principal.id)
    return JSONResponse({"ceremony": ceremony, "options": options}, headers=NO_STORE)


@router.post("/verify")
async def step_up(body: StepUpBody, principal: UserOnly, runtime: RuntimeDep) -> JSONResponse:
    """A fresh ``aal2`` access token for this session after a passkey assertion."""
    user = await current_user(runtime, principal)
    assertion = await runtime.passkeys.authenticate(body.ceremony, body.credential)
    if assertion.user_id != user.id:
        raise SecondFactorError("This passkey is not yours")
    amr = sorted({*principal.amr, "hwk"})
    await runtime.accounts.record_second_factor(principal.session_id, amr, int(runtime.clock()))
    access = await runtime.auth.reissue_access(user, principal.session_id)
    await runtime.audit.record("mfa.step_up", user_id=user.id, session_id=principal.session_id)
    token = {"accessToken": access.token, "tokenType": "Bearer"}
    body_json = {**token, "expiresIn": access.expires_at - access.issued_at}
    return JSONResponse(body_json, headers=NO_STORE)


async def _challenge_user(runtime: Runtime, mfa_token: str, *, keep: bool) -> str | None:
    if not mfa_token:
        return None
    user_id = await runtime.mfa.take_challenge(mfa_token)
    if user_id is None:
        raise SecondFactorError("The sign-in has expired; start again with your password")
    if keep:
        await runtime.mfa.keep_challenge(mfa_token, user_id)
    return user_id


async def passkey_sign_in(
    runtime: Runtime, ceremony: str, credential: dict[str, Any], mfa_token: str
) -> tuple[User, list[str]]:
    """The user and RFC 8176 ``amr`` of a passkey assertion, password-less or second step."""
    expected = await _challenge_user(runtime, mfa_token, keep=False)
    try:
        assertion = await runtime.passkeys.authenticate(ceremony, credential)
    except SecondFactorError:
        if expected is not None:
            await runtime.mfa.keep_challenge(mfa_token, expected)
        raise
    user = await runtime.store.user_by_id(assertion.user_id)
    if user is None or not user.is_active or (expected and expected != user.id):
        raise SecondFactorError("This passkey cannot sign in here")
    return user, _amr(assertion, second_step=expected is not None)


def _amr(assertion: PasskeyAssertion, *, second_step: bool) -> list[str]:
    return ["pwd", "hwk"] if second_step else assertion.amr
