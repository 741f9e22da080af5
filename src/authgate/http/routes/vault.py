"""``POST /vault/{provider}/token``: a provider token for an agent (docs/vault.md).

The caller is an agent: acting for a user under a delegation, it gets that user's
connection or key; on its own (client credentials), only a key an admin stored for it.
Either way its token must carry the scope ``vault:<provider>``. The answer follows
RFC 6749 s5.1 in shape and is never cached.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from authgate.http.dependencies import get_runtime, require
from authgate.principal import Principal
from authgate.runtime import Runtime

__all__ = ["router"]

router = APIRouter(prefix="/vault", tags=["vault"])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
# The vault serves agents: acting for a user, or on their own (keys stored for them).
Caller = Annotated[Principal, Depends(require(delegation="allow", agents="allow"))]
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@router.post("/{provider}/token")
async def hand_out(provider: str, principal: Caller, runtime: RuntimeDep) -> JSONResponse:
    handed = await runtime.vault.hand_out(principal, provider[:64])
    body: dict[str, Any] = {
        "access_token": handed.token,
        "token_type": handed.token_type,
        "provider": provider,
    }
    if handed.expires_in is not None:
        body["expires_in"] = handed.expires_in
    if handed.scopes:
        body["scope"] = " ".join(handed.scopes)
    return JSONResponse(body, headers=NO_STORE)
