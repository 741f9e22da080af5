"""``POST /oauth2/register``: dynamic client registration (RFC 7591 s3).

JSON in, JSON out (s3.1, s3.2.1: 201 with the client information). Errors use the
RFC 7591 s3.2.2 codes. Each IP may register a bounded number of clients (the register
rate-limit group, keyed apart from user sign-ups); in ``token`` mode the initial access
token comes as a Bearer token (s3).
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from authgate.authserver.registration import registration_response
from authgate.errors import AuthgateError, StorageUnavailableError
from authgate.http.credentials import device_info
from authgate.http.dependencies import get_runtime
from authgate.http.oauth2_form import NO_STORE, OAuthRequestError, oauth_error
from authgate.ratelimit import StoreUnavailable
from authgate.runtime import Runtime

__all__ = ["router"]

router = APIRouter(prefix="/oauth2", tags=["oauth2"])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


@router.post("/register", status_code=201)
async def register(request: Request, runtime: RuntimeDep) -> JSONResponse:
    device = device_info(request)
    try:
        await _rate_limit(runtime, device.ip)
        metadata = await _read_json(request)
        new = await runtime.client_registration.register(metadata, _bearer(request))
    except AuthgateError as exc:
        return oauth_error(exc)
    await runtime.audit.record(
        "authserver.client_registered",
        device=device,
        client=new.app.public_id,
        auth_method=new.app.auth_method,
    )
    return JSONResponse(registration_response(new), status_code=201, headers=NO_STORE)


async def _rate_limit(runtime: Runtime, ip: str) -> None:
    if not runtime.settings.rate_limit_enabled:
        return
    try:
        decision = await runtime.ratelimits.hit("register", "oauth-client", ip)
    except StoreUnavailable as exc:
        raise StorageUnavailableError("ratelimit") from exc
    if not decision.allowed:
        error = OAuthRequestError("Too many registrations from your network", error="slow_down")
        error.status_code = 429
        raise error


async def _read_json(request: Request) -> object:
    mime = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if mime != "application/json":
        raise OAuthRequestError("Send application/json", error="invalid_client_metadata")
    try:
        return json.loads(await request.body())
    except (ValueError, UnicodeDecodeError) as exc:
        raise OAuthRequestError("The body is not JSON", error="invalid_client_metadata") from exc


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None
