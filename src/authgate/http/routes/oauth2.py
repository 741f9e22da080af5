"""``/oauth2``: token introspection (RFC 7662) and revocation (RFC 7009)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from authgate.errors import AuthgateError, InvalidTokenError
from authgate.http.dependencies import get_runtime
from authgate.http.oauth2_form import (
    NO_STORE,
    OAuthRequestError,
    authenticate_client,
    oauth_error,
    read_form,
)
from authgate.http.routes.authserver_token import app_client
from authgate.runtime import Runtime
from authgate.storage.models import OAuthClient

__all__ = ["router"]

router = APIRouter(prefix="/oauth2", tags=["oauth2"])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
INACTIVE = {"active": False}


@router.post("/introspect")
async def introspect(request: Request, runtime: RuntimeDep) -> JSONResponse:
    try:
        form = await read_form(request)
        caller = await authenticate_client(request, form, runtime.clients)
        token = form.get("token")
        if not token:
            raise OAuthRequestError("The token parameter is required")
    except AuthgateError as exc:
        return oauth_error(exc)
    # Not audited: resource servers may introspect on every request.
    if caller.resource is not None:
        # A registered resource accepts only tokens issued for it, never authgate's own.
        body = _resource_info(runtime, token, caller) or INACTIVE
    else:
        body = await _introspection(runtime, token, form.get("token_type_hint"))
    return JSONResponse(body, headers=NO_STORE)


def _resource_info(runtime: Runtime, token: str, caller: OAuthClient) -> dict[str, Any] | None:
    """A token for a registered resource (authgate.authserver): active only to that
    resource's own server (RFC 7662 s4: the answer may depend on who asks), so resource
    B learns nothing from a token for resource A."""
    try:
        claims = runtime.authserver.tokens.verify(token)
    except InvalidTokenError:
        return None
    revoked = claims.session_id in runtime.revocations or runtime.revocations.stale
    if revoked or caller.resource != claims.aud:
        return INACTIVE
    body: dict[str, Any] = {
        "active": True,
        "token_type": "Bearer",
        "scope": claims.scope,
        "client_id": claims.client_id,
        "sub": claims.sub,
        "aud": claims.aud,
        "iss": runtime.settings.metadata_issuer,
        "exp": claims.exp,
        "iat": claims.iat,
        "jti": claims.jti,
        "sid": claims.session_id,
    }
    if claims.jkt is not None:
        body |= {"token_type": "DPoP", "cnf": {"jkt": claims.jkt}}
    if claims.authorization_details is not None:
        # RFC 9396 s9.2: an approval token's details; spending it is /approvals/redeem.
        body["authorization_details"] = claims.authorization_details
    return body


async def _introspection(runtime: Runtime, token: str, hint: str | None) -> dict[str, Any]:
    """RFC 7662 s2.2: anything not valid, revoked or unknown is only ``active: false``."""
    order = ("refresh", "access") if hint == "refresh_token" else ("access", "refresh")
    for kind in order:
        body = await (
            _refresh_info(runtime, token) if kind == "refresh" else _access_info(runtime, token)
        )
        if body is not None:
            return body
    return INACTIVE


async def _access_info(runtime: Runtime, token: str) -> dict[str, Any] | None:
    try:
        principal = runtime.authenticator.authenticate(token)
    except InvalidTokenError:
        return _agent_resource_info(runtime, token)
    body: dict[str, Any] = {
        "active": True,
        "token_type": "Bearer",
        "scope": " ".join(sorted(principal.permissions)),
        "sub": principal.id,
        "username": principal.email,
        "exp": principal.expires_at,
        "iss": runtime.settings.jwt_issuer,
        "aud": runtime.settings.jwt_audience,
        "jti": principal.token_id,
        "sid": principal.session_id,
    }
    if principal.jkt is not None:
        # RFC 9449 s6.2: the resource server learns the key the token is bound to.
        body |= {"token_type": "DPoP", "cnf": {"jkt": principal.jkt}}
    return body


def _agent_resource_info(runtime: Runtime, token: str) -> dict[str, Any] | None:
    """An agent's token for a configured resource (RFC 8707 ``resource`` on
    client_credentials, AUTHGATE_RESOURCES): its own iss and aud."""
    found = runtime.auth.resource_access(token)
    if found is None:
        return None
    claims, audience = found
    body: dict[str, Any] = {
        "active": True,
        "token_type": "Bearer" if claims.jkt is None else "DPoP",
        "scope": " ".join(sorted(claims.permissions)),
        "client_id": claims.client_id,
        "sub": claims.sub,
        "exp": claims.exp,
        "iat": claims.iat,
        "iss": runtime.settings.metadata_issuer,
        "aud": audience,
        "jti": claims.jti,
        "sid": claims.session_id,
    }
    if claims.jkt is not None:
        body["cnf"] = {"jkt": claims.jkt}
    return body


async def _refresh_info(runtime: Runtime, token: str) -> dict[str, Any] | None:
    claims = await runtime.auth.live_refresh_claims(token)
    if claims is None:
        return None
    return {
        "active": True,
        "token_type": "refresh_token",
        "sub": claims.sub,
        "exp": claims.exp,
        "iat": claims.iat,
        "iss": runtime.settings.jwt_issuer,
        "aud": runtime.settings.jwt_audience,
        "jti": claims.jti,
        "sid": claims.session_id,
    }


@router.post("/revoke")
async def revoke(request: Request, runtime: RuntimeDep) -> JSONResponse:
    try:
        form = await read_form(request)
        # A third-party app (public ones too, RFC 7009 s2.1) revokes only its own grants.
        app = await app_client(request, form, runtime)
        if app is None:
            client_id = (await authenticate_client(request, form, runtime.clients)).client_id
        token = form.get("token")
        if not token:
            raise OAuthRequestError("The token parameter is required")
    except AuthgateError as exc:
        return oauth_error(exc)
    # RFC 7009 s2.2: unknown and already invalid tokens also answer 200.
    if app is not None:
        if await runtime.authserver.revoke_token(token, app):
            await runtime.audit.record("token.revoked", client=app.public_id)
    elif await runtime.auth.revoke_token(token, actor="client"):
        await runtime.audit.record("token.revoked", client=client_id)
    return JSONResponse({}, headers=NO_STORE)
