"""The token endpoint's grants for third-party clients (authgate.authserver).

- ``authorization_code`` (RFC 6749 s4.1.3, RFC 7636 s4.5, RFC 8707 s2.2);
- ``refresh_token`` of such a grant (RFC 6749 s6): rotated, scope may narrow.

Client authentication follows the client's registration (RFC 7591 s2): ``none`` for a
public client (it must then send no credentials), a secret, or ``private_key_jwt``
(RFC 7523 s2.2), as agents do. DPoP binds the tokens as it does for agents (RFC 9449 s5).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from authgate.agents.registry import InvalidClientError, parse_basic_auth
from authgate.authserver.apps import App
from authgate.authserver.service import GrantTokens
from authgate.http.credentials import device_info
from authgate.http.oauth2_form import OAuthRequestError, authenticate_client
from authgate.http.sender import token_request_jkt
from authgate.runtime import Runtime

__all__ = ["APP_GRANTS", "app_client", "app_grant"]

APP_GRANTS = frozenset({"authorization_code", "refresh_token"})


async def app_client(request: Request, form: dict[str, str], runtime: Runtime) -> App | None:
    """The third-party client making this request, authenticated; None if it is no app."""
    basic = parse_basic_auth(request.headers.get("authorization"))
    client_id = basic[0] if basic is not None else form.get("client_id")
    if client_id is None:
        return None
    app = await runtime.authserver.apps.find_known(client_id)
    if app is None:
        return None
    if app.is_public:
        if basic is not None or "client_secret" in form or "client_assertion" in form:
            raise OAuthRequestError("A public client sends no credentials", error="invalid_client")
        return app
    authenticated = await authenticate_client(request, form, runtime.clients, runtime.assertions)
    if authenticated.client_id != app.id:
        raise InvalidClientError()
    return app


async def app_grant(
    runtime: Runtime, request: Request, form: dict[str, str], app: App
) -> dict[str, Any]:
    grant = form.get("grant_type", "")
    if grant not in app.grant_types:
        raise OAuthRequestError("This client may not use this grant", error="unauthorized_client")
    jkt = await token_request_jkt(runtime.dpop, request)
    server = runtime.authserver
    if grant == "authorization_code":
        tokens = await server.redeem(
            app,
            code=_required(form, "code"),
            redirect_uri=form.get("redirect_uri"),
            verifier=form.get("code_verifier"),
            resource=form.get("resource"),
            device=device_info(request),
            jkt=jkt,
        )
    else:
        tokens = await server.refresh(
            app,
            token=_required(form, "refresh_token"),
            scope=form.get("scope"),
            resource=form.get("resource"),
            device=device_info(request),
            jkt=jkt,
        )
    return _body(tokens, jkt, refresh="refresh_token" in app.grant_types)


def _required(form: dict[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise OAuthRequestError(f"{name} is required")
    return value


def _body(tokens: GrantTokens, jkt: str | None, *, refresh: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "access_token": tokens.access.token,
        "token_type": "DPoP" if jkt else "Bearer",
        "expires_in": tokens.access.expires_at - tokens.access.issued_at,
        "scope": " ".join(tokens.scopes),
    }
    if refresh:
        body["refresh_token"] = tokens.refresh.token
    return body
