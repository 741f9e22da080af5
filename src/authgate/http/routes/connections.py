"""``/auth/connect`` and ``/auth/connections``: a user's connected accounts and API keys.

- ``GET /auth/connect/{provider}?scopes=a,b`` answers ``{"authUrl", "provider"}`` and
  sets the sealed ``vault_connect_state`` cookie bound to the signed-in user (302 to the
  provider for ``?redirect=true`` and browsers); ``GET .../callback`` stores the
  provider's tokens sealed and answers the connection (303 for browsers). The tokens
  themselves are never sent back.
- ``GET /auth/connections`` lists connections and keys, never their values.
- ``PUT /auth/connections/keys/{service}`` stores an API key (write-only).
- ``DELETE /auth/connections/{id}`` disconnects and revokes at the provider if it can.

Only the user may use these, never an agent acting for them (docs/vault.md).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, StringConstraints
from starlette.responses import JSONResponse, RedirectResponse, Response

from authgate.errors import OAuthLoginError, OAuthStateError
from authgate.http.credentials import device_info
from authgate.http.dependencies import get_runtime, require
from authgate.http.error_responses import error_response
from authgate.http.pages.failures import failure_redirect
from authgate.http.routes.auth import iso
from authgate.principal import Principal
from authgate.runtime import Runtime
from authgate.storage.models import VaultCredential
from authgate.vault.connect import CONNECT_COOKIE
from authgate.vault.service import check_name, parse_scopes

__all__ = ["connection_json", "router"]

router = APIRouter(tags=["vault"])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
UserOnly = Annotated[Principal, Depends(require(delegation="forbid"))]
COOKIE_PATH = "/auth/connect"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class KeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: Annotated[str, StringConstraints(min_length=1, max_length=8192)]


def connection_json(row: VaultCredential) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "provider": row.name,
        "status": row.status,
        "account": row.account,
        "scopes": list(row.scopes),
        "expiresAt": iso(row.expires_at),
        "createdAt": iso(row.created_at),
        "updatedAt": iso(row.updated_at),
        "lastUsedAt": iso(row.last_used_at),
    }


def _clear_state(response: Response, *, secure: bool) -> None:
    response.delete_cookie(
        CONNECT_COOKIE, path=COOKIE_PATH, secure=secure, httponly=True, samesite="lax"
    )


@router.get("/auth/connect/{provider}")
async def connect(
    provider: str,
    request: Request,
    principal: UserOnly,
    runtime: RuntimeDep,
    redirect: bool = False,
    scopes: Annotated[str | None, Query(max_length=2048)] = None,
    return_to: Annotated[str | None, Query(alias="returnTo", max_length=2048)] = None,
) -> Response:
    browser = redirect or "text/html" in request.headers.get("accept", "")
    started = await runtime.vault.start_connect(
        provider,
        user_id=principal.id,
        scopes=parse_scopes(scopes),
        return_to=return_to,
        browser=browser,
    )
    response: Response
    if browser:
        response = RedirectResponse(started.auth_url, status_code=302, headers=NO_STORE)
    else:
        body = {"authUrl": started.auth_url, "provider": provider}
        response = JSONResponse(body, headers=NO_STORE)
    response.set_cookie(
        CONNECT_COOKIE,
        started.cookie,
        max_age=runtime.vault.connector.states.ttl,
        path=COOKIE_PATH,
        secure=runtime.settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )
    return response


@router.get("/auth/connect/{provider}/callback")
async def connect_callback(
    provider: str, request: Request, principal: UserOnly, runtime: RuntimeDep
) -> Response:
    secure = runtime.settings.secure_cookies
    device = device_info(request)
    try:
        pairs = request.query_params.multi_items()
        # RFC 6749 s3.1: a parameter sent twice makes the response ambiguous; refuse it.
        if len({key for key, _ in pairs}) != len(pairs):
            raise OAuthLoginError(provider[:64], "A callback parameter was repeated")
        row, state = await runtime.vault.complete_connect(
            provider,
            user_id=principal.id,
            cookie=request.cookies.get(CONNECT_COOKIE),
            params=dict(pairs),
            device=device,
        )
    except OAuthLoginError as exc:
        detail = {"reason": exc.reason} if isinstance(exc, OAuthStateError) else {}
        await runtime.audit.record(
            "vault.connect_failed",
            user_id=principal.id,
            device=device,
            provider=provider[:64],
            error=exc.error,
            **detail,
        )
        failed = failure_redirect(request, exc, provider) or error_response(exc)
        _clear_state(failed, secure=secure)
        return failed
    response: Response
    if state.browser:
        response = RedirectResponse(state.return_to, status_code=303, headers=NO_STORE)
    else:
        body = {"success": True, "connection": connection_json(row)}
        response = JSONResponse(body, headers=NO_STORE)
    _clear_state(response, secure=secure)
    return response


@router.get("/auth/connections")
async def list_connections(principal: UserOnly, runtime: RuntimeDep) -> dict[str, Any]:
    rows = await runtime.vault.connections(principal.id)
    return {"connections": [connection_json(row) for row in rows]}


@router.put("/auth/connections/keys/{service}")
async def put_key(
    service: str, body: KeyRequest, principal: UserOnly, runtime: RuntimeDep, request: Request
) -> dict[str, Any]:
    row = await runtime.vault.put_key(
        principal.id, check_name(service), body.value, device=device_info(request)
    )
    return {"success": True, "connection": connection_json(row)}


@router.delete("/auth/connections/{connection_id}")
async def disconnect(
    connection_id: str, principal: UserOnly, runtime: RuntimeDep, request: Request
) -> dict[str, Any]:
    revoked = await runtime.vault.disconnect(
        principal.id, connection_id[:64], device=device_info(request)
    )
    return {"success": True, "id": connection_id, "revokedAtProvider": revoked}
