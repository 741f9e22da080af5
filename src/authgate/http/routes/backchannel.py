"""``/oauth2/bc-authorize`` (OpenID CIBA Core 1.0 s7) and ``/oauth2/approvals/redeem``.

The agent authenticates as at the token endpoint (client_secret_basic, client_secret_post
or private_key_jwt; CIBA s7.1 requires a confidential client). Answers use the OAuth
error shape (CIBA s13) and carry ``Cache-Control: no-store``. The token grant itself is
in ``routes/token.py``; the service is ``authgate.authserver.ciba``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from authgate.errors import AuthgateError
from authgate.http.dependencies import get_runtime
from authgate.http.oauth2_form import (
    NO_STORE,
    OAuthRequestError,
    authenticate_client,
    oauth_error,
    read_form,
)
from authgate.runtime import Runtime

__all__ = ["router"]

router = APIRouter(prefix="/oauth2", tags=["oauth2"])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


@router.post("/bc-authorize")
async def backchannel_authorize(request: Request, runtime: RuntimeDep) -> JSONResponse:
    """CIBA s7.1 request, s7.3 answer ``{auth_req_id, expires_in, interval}``."""
    try:
        form = await read_form(request)
        client = await authenticate_client(request, form, runtime.clients, runtime.assertions)
        if client.kind != "agent":
            raise OAuthRequestError(
                "Only agents may ask for an approval", error="unauthorized_client"
            )
        answer = await runtime.backchannel.request(client, form)
    except AuthgateError as exc:
        return oauth_error(exc)
    body = {
        "auth_req_id": answer.auth_req_id,
        "expires_in": answer.expires_in,
        "interval": answer.interval,
    }
    return JSONResponse(body, headers=NO_STORE)


@router.post("/approvals/redeem")
async def redeem_approval(request: Request, runtime: RuntimeDep) -> JSONResponse:
    """A resource server spends an approval token, once, after its own checks passed."""
    try:
        form = await read_form(request)
        caller = await authenticate_client(request, form, runtime.clients)
        body = await runtime.backchannel.redeem(caller, form.get("token"))
    except AuthgateError as exc:
        return oauth_error(exc)
    return JSONResponse(body, headers=NO_STORE)
