"""Discovery: JWKS (RFC 7517), authorization server metadata (RFC 8414), OIDC discovery."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from authgate.agents.dpop import ALGORITHMS as DPOP_ALGORITHMS
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


# Every grant the token endpoint accepts (RFC 8414 s2 grant_types_supported).
GRANT_TYPES = [
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "urn:ietf:params:oauth:grant-type:token-exchange",
    "urn:openid:params:grant-type:ciba",
]
TOKEN_AUTH_METHODS = ["none", "client_secret_basic", "client_secret_post", "private_key_jwt"]


async def _metadata(runtime: Runtime) -> dict[str, Any]:
    """RFC 8414 s2, with RFC 9207 s3, RFC 9449 s5.1 and the CIMD and MCP additions."""
    settings = runtime.settings
    base = settings.public_url.rstrip("/")
    metadata: dict[str, Any] = {
        "issuer": settings.metadata_issuer,
        "authorization_endpoint": f"{base}/oauth2/authorize",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "token_endpoint": f"{base}/oauth2/token",
        "introspection_endpoint": f"{base}/oauth2/introspect",
        "revocation_endpoint": f"{base}/oauth2/revoke",
        "scopes_supported": await runtime.authserver.resources.all_scopes(),
        "grant_types_supported": GRANT_TYPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
        "client_id_metadata_document_supported": settings.cimd_enabled,
        "dpop_signing_alg_values_supported": list(DPOP_ALGORITHMS),
        "token_endpoint_auth_methods_supported": TOKEN_AUTH_METHODS,
        # Not registered with IANA: where resource servers follow revocations (issue 15).
        "authgate_revocation_feed_endpoint": f"{base}/oauth2/revocations",
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
        ],
        "revocation_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
        ],
        "token_endpoint_auth_signing_alg_values_supported": list(SUPPORTED_ALGORITHMS[1:]),
    }
    metadata |= {
        # OpenID CIBA Core 1.0 s4 (no push mode, no user_code) and RFC 9396 s10.
        "backchannel_authentication_endpoint": f"{base}/oauth2/bc-authorize",
        "backchannel_token_delivery_modes_supported": ["poll", "ping"],
        "backchannel_user_code_parameter_supported": False,
        "authorization_details_types_supported": (
            await runtime.authserver.resources.all_details_types()
        ),
    }
    if settings.client_registration != "off":
        metadata["registration_endpoint"] = f"{base}/oauth2/register"
    return metadata


@router.get("/.well-known/oauth-authorization-server")
async def authorization_server_metadata(runtime: RuntimeDep) -> JSONResponse:
    # Short: scopes_supported changes when a resource server is registered.
    return JSONResponse(await _metadata(runtime), headers={"Cache-Control": "public, max-age=60"})


@router.get("/.well-known/openid-configuration")
async def openid_configuration() -> JSONResponse:
    """authgate is no OpenID Provider (no ID tokens, no UserInfo): an OIDC discovery
    document would promise what it does not do, so there is none (OIDC Discovery s4)."""
    return JSONResponse(
        {"error": "not_found", "error_description": "authgate is not an OpenID Provider"},
        status_code=404,
    )
