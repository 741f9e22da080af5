"""``/auth``: register, login, refresh, logout, sessions, me.

``POST /auth/refresh`` is added to the app directly (``add_refresh_route``), not through
``router``; everything else here is ``router``'s.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from authgate.accounts.users import normalise_email
from authgate.errors import InvalidCredentialsError, RefreshTokenError
from authgate.http.cookies import clear_auth_cookies, set_auth_cookies
from authgate.http.credentials import device_info, refresh_cookie_name
from authgate.http.dependencies import get_runtime, require
from authgate.http.direct_route import DirectRoute, read_json_body
from authgate.http.routes.federation import identity_json
from authgate.http.schemas import LoginRequest, RefreshRequest, RegisterRequest
from authgate.principal import Principal
from authgate.runtime import Runtime
from authgate.sessions.service import TokenPair
from authgate.storage.models import Session, User

__all__ = ["add_refresh_route", "iso", "json_only", "router", "token_response", "user_json"]

_JSON_TYPES = ("application/json",)


async def json_only(request: Request) -> None:
    """415 for a body that is not JSON, rather than a confusing validation error."""
    has_body = request.headers.get("content-length", "0") != "0" or (
        "transfer-encoding" in request.headers
    )
    if not has_body:
        return
    mime = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if mime not in _JSON_TYPES and not mime.endswith("+json"):
        raise HTTPException(415, "Send a JSON body with Content-Type: application/json")


router = APIRouter(prefix="/auth", tags=["auth"], dependencies=[Depends(json_only)])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
# The user's own token only: an agent, even acting for the user, may not list, end or
# log out the user's sessions, nor read the account (require()'s default).
Authenticated = Annotated[Principal, Depends(require())]

# RFC 6749 s5.1: responses carrying tokens must not be cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def iso(timestamp: int | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def user_json(user: User, permissions: list[str]) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "roles": list(user.roles),
        "permissions": permissions,
        "createdAt": iso(user.created_at),
        "emailVerified": bool(user.email_verified),
    }


def token_response(
    runtime: Runtime, pair: TokenPair, *, cookies: bool, extra: dict[str, Any] | None = None
) -> JSONResponse:
    response = JSONResponse({**pair.as_json(), **(extra or {})}, headers=NO_STORE)
    if cookies:
        set_auth_cookies(response, pair, secure=runtime.settings.secure_cookies)
    return response


@router.post("/register", status_code=201)
async def register(body: RegisterRequest, runtime: RuntimeDep, request: Request) -> JSONResponse:
    user = await runtime.users.register(body.email, body.password, body.name)
    await runtime.audit.record("user.registered", user_id=user.id, device=device_info(request))
    await runtime.verification.send(user)
    permissions = runtime.settings.permissions_for(list(user.roles))
    return JSONResponse({"user": user_json(user, permissions)}, status_code=201)


@router.post("/login")
async def login(body: LoginRequest, runtime: RuntimeDep, request: Request) -> JSONResponse:
    device = device_info(request)
    try:
        user = await runtime.users.authenticate(body.email, body.password)
    except InvalidCredentialsError:
        await runtime.audit.record(
            "login.failure", device=device, email=normalise_email(body.email)
        )
        raise
    if await runtime.mfa.enabled(user):
        # The password was right; the second factor comes next (POST /auth/login/mfa).
        challenge = await runtime.mfa.start_challenge(user.id)
        step = {
            "mfaRequired": True,
            "mfaToken": challenge,
            "methods": await _methods(runtime, user),
        }
        return JSONResponse(step, headers=NO_STORE)
    pair = await runtime.auth.start_session(user, device)
    permissions = runtime.settings.permissions_for(list(user.roles))
    return token_response(
        runtime, pair, cookies=body.useCookies, extra={"user": user_json(user, permissions)}
    )


async def _methods(runtime: Runtime, user: User) -> list[str]:
    methods = ["totp", "recovery_code"] if user.totp_enabled_at is not None else []
    if await runtime.accounts.passkey_count(user.id):
        methods.append("passkey")
    return methods


async def refresh(
    runtime: RuntimeDep, request: Request, body: RefreshRequest | None = None
) -> JSONResponse:
    secure = runtime.settings.secure_cookies
    from_cookie = request.cookies.get(refresh_cookie_name(secure))
    token = (body.refreshToken if body else None) or from_cookie
    if not token:
        raise RefreshTokenError("Provide refreshToken in the body or the refresh cookie")
    pair = await runtime.auth.refresh(token, device_info(request))
    cookies = bool(body and body.useCookies) or from_cookie is not None
    return token_response(runtime, pair, cookies=cookies)


def add_refresh_route(app: FastAPI) -> None:
    """``POST /auth/refresh`` as a route of the app itself, with the ``/auth`` router's
    tag and JSON check, answered without FastAPI's request handler (``DirectRoute``).

    The hottest write then skips FastAPI's included-router contexts (80-120 µs of CPU a
    request) and its dependency solving (100-150 µs more; bench/README.md, 18.6); a
    user's route pays one more path match for it.
    """
    route = DirectRoute(
        "/auth/refresh",
        refresh,
        handler=_refresh_directly,
        methods=["POST"],
        tags=["auth"],
        dependencies=[Depends(json_only)],
        dependency_overrides_provider=app,
    )
    app.router.routes.append(route)


async def _refresh_directly(request: Request) -> JSONResponse:
    """What FastAPI would do for ``refresh``: the JSON check, the body, the runtime."""
    await json_only(request)
    body = await read_json_body(request)
    return await refresh(await get_runtime(request), request, body)


@router.post("/logout")
async def logout(principal: Authenticated, runtime: RuntimeDep, request: Request) -> JSONResponse:
    await runtime.auth.logout(principal.session_id, principal.id, device_info(request))
    response = JSONResponse({"success": True, "message": "Logged out"})
    clear_auth_cookies(response, secure=runtime.settings.secure_cookies)
    return response


@router.post("/logout-all")
async def logout_all(
    principal: Authenticated, runtime: RuntimeDep, request: Request
) -> JSONResponse:
    count = await runtime.auth.logout_all(
        principal.id, device_info(request), current_session_id=principal.session_id
    )
    response = JSONResponse({"success": True, "revokedSessions": count})
    clear_auth_cookies(response, secure=runtime.settings.secure_cookies)
    return response


# Agents are welcome here explicitly: /auth/me is how a caller learns who it is.
AnyCaller = Annotated[Principal, Depends(require(delegation="allow", agents="allow"))]


@router.get("/me")
async def me(principal: AnyCaller, runtime: RuntimeDep) -> dict[str, Any]:
    """The caller: a user (with ``actor`` when an agent acts for them), or an agent."""
    if principal.id.startswith("agent:"):
        return await _agent_json(principal, runtime)
    user = await runtime.store.user_by_id(principal.id)
    if user is None:
        raise InvalidCredentialsError()
    identities = [identity_json(i) for i in await runtime.oauth.identities(user.id)]
    body = {
        **user_json(user, sorted(principal.permissions)),
        "sessionId": principal.session_id,
        "identities": identities,
    }
    if principal.actor is not None:
        body["actor"] = principal.actor  # RFC 8693 s4.1: the agent acting for this user
    return body


async def _agent_json(principal: Principal, runtime: Runtime) -> dict[str, Any]:
    """An agent on its own (client credentials) has no profile: its registration instead."""
    client_id = principal.client_id or principal.id.removeprefix("agent:")
    client = await runtime.clients.get(client_id)
    return {
        "id": principal.id,
        "kind": "agent",
        "clientId": client_id,
        "name": client.name if client else None,
        "ownerId": client.owner_user_id if client else None,
        "permissions": sorted(principal.permissions),
        "sessionId": principal.session_id,
        "dpopBound": principal.jkt is not None,
    }


def _session_json(session: Session, current_id: str) -> dict[str, Any]:
    return {
        "id": session.id,
        "createdAt": iso(session.created_at),
        "lastUsedAt": iso(session.last_used_at),
        "expiresAt": iso(session.expires_at),
        "userAgent": session.user_agent,
        "ip": session.ip,
        "current": session.id == current_id,
    }


@router.get("/sessions")
async def sessions(principal: Authenticated, runtime: RuntimeDep) -> dict[str, Any]:
    rows = await runtime.auth.active_sessions(principal.id)
    return {"sessions": [_session_json(row, principal.session_id) for row in rows]}


@router.delete("/sessions/{session_id}")
async def revoke_session(
    session_id: str, principal: Authenticated, runtime: RuntimeDep, request: Request
) -> dict[str, Any]:
    await runtime.auth.revoke_session(principal.id, session_id, device_info(request))
    return {"success": True, "sessionId": session_id}
