"""Discovery: JWKS (RFC 7517), authorization server metadata (RFC 8414), OIDC discovery."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from authgate.http.dependencies import get_runtime
from authgate.keys.keyring import SUPPORTED_ALGORITHMS
from authgate.runtime import Runtime

__all__ = ["router"]

router = APIRouter(tags=["discovery"])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]

# Short enough that a verifier sees a newly published next key well before it signs.
JWKS_CACHE = "public, max-age=300, stale-while-revalidate=60"


@router.get("/.well-known/jwks.json")
async def jwks(runtime: RuntimeDep) -> JSONResponse:
    return JSONResponse(
        runtime.keys.ring.jwks(),
        headers={"Cache-Control": JWKS_CACHE},
        media_type="application/jwk-set+json",
    )


def _metadata(runtime: Runtime) -> dict[str, Any]:
    base = runtime.settings.public_url.rstrip("/")
    return {
        "issuer": runtime.settings.metadata_issuer,
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "token_endpoint": f"{base}/oauth2/token",
        "introspection_endpoint": f"{base}/oauth2/introspect",
        "revocation_endpoint": f"{base}/oauth2/revoke",
        # Not registered with IANA: where resource servers follow revocations (issue 15).
        "authgate_revocation_feed_endpoint": f"{base}/oauth2/revocations",
        "grant_types_supported": ["refresh_token", "client_credentials"],
        "response_types_supported": ["none"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
        ],
        "revocation_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
        ],
        "token_endpoint_auth_signing_alg_values_supported": list(SUPPORTED_ALGORITHMS[1:]),
        "id_token_signing_alg_values_supported": [runtime.settings.signing_alg],
        "subject_types_supported": ["public"],
    }


@router.get("/.well-known/oauth-authorization-server")
async def authorization_server_metadata(runtime: RuntimeDep) -> JSONResponse:
    return JSONResponse(_metadata(runtime), headers={"Cache-Control": "public, max-age=3600"})


@router.get("/.well-known/openid-configuration")
async def openid_configuration(runtime: RuntimeDep) -> JSONResponse:
    return JSONResponse(_metadata(runtime), headers={"Cache-Control": "public, max-age=3600"})
