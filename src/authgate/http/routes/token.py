"""``POST /oauth2/token``: the grants agents use.

- ``client_credentials`` (RFC 6749 s4.4): an agent on its own, ``sub = agent:<id>``.
- token exchange (RFC 8693 s2): a user's access token as ``subject_token`` and the
  agent (client authentication or ``actor_token``) as actor; the issued token has
  ``sub`` = the user and ``act.sub`` = the agent, with scope = requested ∩ the user's
  permissions ∩ the agent's allowed scopes ∩ what the user consented to, never wider.
  Holding a user's token is not the user's consent: the user must have consented to
  this agent beforehand (``POST /auth/delegations``), else ``invalid_grant``; the
  delegation lives no longer than that consent's ``maxTtl`` (issue 19 item 4).
- ``refresh_token`` (RFC 6749 s6): a delegation's refresh token, only with the agent
  it was issued to.
- ``authorization_code`` and its refreshes, for third-party clients of the
  authorization server (``authserver_token``).
- ``urn:openid:params:grant-type:ciba`` (OpenID CIBA Core 1.0 s10.1): an agent fetches
  the approval token of a request its user approved (``authgate.authserver.ciba``).

Answers use the RFC names and carry ``Cache-Control: no-store`` (RFC 6749 s5.1).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from authgate.authserver.ciba import CIBA_GRANT
from authgate.errors import (
    AuthgateError,
    InvalidTokenError,
    RefreshTokenError,
    StepUpRequiredError,
)
from authgate.http.credentials import device_info
from authgate.http.dependencies import check_authentication, get_runtime
from authgate.http.oauth2_form import (
    NO_STORE,
    OAuthRequestError,
    authenticate_client,
    oauth_error,
    read_form,
)
from authgate.http.routes.authserver_token import APP_GRANTS, app_client, app_grant
from authgate.http.sender import token_request_jkt
from authgate.principal import Principal
from authgate.runtime import Runtime
from authgate.scopes import is_vault_scope
from authgate.sessions.service import TokenPair
from authgate.storage.models import OAuthClient, User
from authgate.tokens.issuer import IssuedToken

__all__ = ["router"]

router = APIRouter(prefix="/oauth2", tags=["oauth2"])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]

# RFC 8693 s2.1 and s3 identifiers (not secrets).
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"  # noqa: S105


@router.post("/token")
async def token(request: Request, runtime: RuntimeDep) -> JSONResponse:
    try:
        form = await read_form(request)
        grant = form.get("grant_type")
        # Third-party clients of authgate.authserver: authorization code and its refreshes.
        app = await app_client(request, form, runtime) if grant in APP_GRANTS else None
        if app is not None:
            return JSONResponse(await app_grant(runtime, request, form, app), headers=NO_STORE)
        client = await authenticate_client(request, form, runtime.clients, runtime.assertions)
        if grant == "client_credentials":
            body = await _client_credentials(runtime, request, form, client)
        elif grant == TOKEN_EXCHANGE:
            body = await _token_exchange(runtime, request, form, client)
        elif grant == "refresh_token":
            body = await _refresh(runtime, request, form, client)
        elif grant == CIBA_GRANT:
            body = await _ciba(runtime, request, form, client)
        elif grant == "authorization_code":
            raise OAuthRequestError(
                "This client may not use this grant", error="unauthorized_client"
            )
        elif grant is None:
            raise OAuthRequestError("grant_type is required")
        else:
            raise OAuthRequestError("Unsupported grant type", error="unsupported_grant_type")
    except AuthgateError as exc:
        return oauth_error(exc)
    return JSONResponse(body, headers=NO_STORE)


def _requested_scopes(form: dict[str, str]) -> set[str] | None:
    scope = form.get("scope")
    return None if scope is None else {s for s in scope.split(" ") if s}


def _require_agent(client: OAuthClient) -> str:
    if client.kind != "agent":
        raise OAuthRequestError("This client may not use this grant", error="unauthorized_client")
    return client.client_id


async def _dpop_jkt(runtime: Runtime, request: Request, client: OAuthClient) -> str | None:
    jkt = await token_request_jkt(runtime.dpop, request)
    if client.dpop_required and jkt is None:
        raise OAuthRequestError("This client must use DPoP", error="invalid_dpop_proof")
    return jkt


def _token_body(token: IssuedToken, scopes: list[str], jkt: str | None) -> dict[str, Any]:
    return {
        "access_token": token.token,
        "token_type": "DPoP" if jkt else "Bearer",
        "expires_in": token.expires_at - token.issued_at,
        "scope": " ".join(scopes),
    }


async def _client_credentials(
    runtime: Runtime, request: Request, form: dict[str, str], client: OAuthClient
) -> dict[str, Any]:
    agent_id = _require_agent(client)
    requested = _requested_scopes(form)
    allowed = set(client.scopes)
    if requested is not None and not requested <= allowed:
        raise OAuthRequestError("A requested scope is not allowed", error="invalid_scope")
    scopes = sorted(requested if requested is not None else allowed)
    if client.owner_user_id is None:
        raise OAuthRequestError("This agent has no owner", error="unauthorized_client")
    owner = await runtime.store.user_by_id(client.owner_user_id)
    if owner is None or not owner.is_active:
        # A disabled or deleted owner's agents act for no one (issue 16).
        raise OAuthRequestError("This agent's owner is disabled", error="unauthorized_client")
    resource = _resource(runtime, form)
    jkt = await _dpop_jkt(runtime, request, client)
    issued = await runtime.auth.start_agent_grant(
        agent_id=agent_id,
        owner_id=client.owner_user_id,
        scopes=scopes,
        jkt=jkt,
        resource=resource,
    )
    await runtime.audit.record("agent.token", user_id=f"agent:{agent_id}", scopes=scopes)
    return _token_body(issued, scopes, jkt)


async def _ciba(
    runtime: Runtime, request: Request, form: dict[str, str], client: OAuthClient
) -> dict[str, Any]:
    """CIBA s10.1.1 answer plus RFC 9396 s7 ``authorization_details``; no refresh token."""
    _require_agent(client)
    jkt = await _dpop_jkt(runtime, request, client)
    approved = await runtime.backchannel.exchange(client, form.get("auth_req_id"), jkt)
    return {
        **_token_body(approved.token, approved.scopes, jkt),
        "authorization_details": approved.authorization_details,
    }


def _resource(runtime: Runtime, form: dict[str, str]) -> str | None:
    """RFC 8707 s2: ``resource`` names a registered resource server exactly, or fails."""
    resource = form.get("resource")
    if resource is None:
        return None
    if resource not in runtime.settings.resources:
        raise OAuthRequestError("The resource is not registered", error="invalid_target")
    return resource


def _authenticate_token(runtime: Runtime, token: str | None, kind: str) -> Principal:
    if not token:
        raise OAuthRequestError(f"{kind} is required")
    try:
        return runtime.authenticator.authenticate(token)
    except InvalidTokenError as exc:
        raise OAuthRequestError(f"The {kind} is not valid", error="invalid_grant") from exc


async def _token_exchange(
    runtime: Runtime, request: Request, form: dict[str, str], client: OAuthClient
) -> dict[str, Any]:
    agent_id = await _actor(runtime, form, client)
    if form.get("subject_token_type") not in (ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE):
        raise OAuthRequestError("subject_token_type must be an access token type")
    subject = _authenticate_token(runtime, form.get("subject_token"), "subject_token")
    if subject.is_agent or subject.jkt is not None:
        # No chains: an agent cannot pass on what it was given (RFC 8693 s4.1 nesting).
        raise OAuthRequestError("Only a user's own token can be delegated", error="invalid_grant")
    consent = await runtime.consents.get(subject.id, agent_id)
    if consent is None:
        raise OAuthRequestError(
            "The user has not authorized this agent to act for them", error="invalid_grant"
        )
    # vault:<name> needs no role: it reaches only this user's own connections, and only
    # when asked for by name, never by default (docs/vault.md).
    allowed = {
        s
        for s in client.scopes
        if (s in subject.permissions or is_vault_scope(s)) and s in consent.scopes
    }
    requested = _requested_scopes(form)
    default = {s for s in allowed if not is_vault_scope(s)}
    scopes = sorted(default if requested is None else requested & allowed)
    if not scopes or (requested is not None and not requested <= allowed):
        raise OAuthRequestError("A requested scope is not allowed", error="invalid_scope")
    user = await runtime.store.user_by_id(subject.id)
    parent = await runtime.store.session_by_id(subject.session_id)
    if user is None or parent is None:
        raise OAuthRequestError("The subject_token is not valid", error="invalid_grant")
    await _vault_needs_recent_factor(runtime, subject, user, scopes)
    jkt = await _dpop_jkt(runtime, request, client)
    pair = await runtime.auth.start_delegation(
        user,
        parent,
        agent_id=agent_id,
        scopes=scopes,
        lifetime=min(_lifetime(runtime, form), consent.max_ttl),
        jkt=jkt,
    )
    return _pair_body(pair, scopes, jkt)


async def _vault_needs_recent_factor(
    runtime: Runtime, subject: Principal, user: User, scopes: list[str]
) -> None:
    """Handing an agent a vault credential needs a recent second factor (issue 16)."""
    if not any(is_vault_scope(s) for s in scopes) or not await runtime.mfa.enabled(user):
        return
    try:
        check_authentication(subject, runtime.clock(), True, runtime.settings.mfa_recent_window)
    except StepUpRequiredError as exc:
        raise OAuthRequestError(
            "Delegating vault access needs a recent second factor: step up and retry",
            error="invalid_grant",
        ) from exc


async def _actor(runtime: Runtime, form: dict[str, str], client: OAuthClient) -> str:
    """The agent: the authenticated client, or the agent behind ``actor_token``."""
    actor_token = form.get("actor_token")
    if actor_token is None:
        return _require_agent(client)
    if form.get("actor_token_type") not in (ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE):
        raise OAuthRequestError("actor_token_type must be an access token type")
    actor = _authenticate_token(runtime, actor_token, "actor_token")
    if not actor.id.startswith("agent:") or actor.client_id != client.client_id:
        raise OAuthRequestError("The actor_token is not this agent's", error="invalid_grant")
    return _require_agent(client)


def _lifetime(runtime: Runtime, form: dict[str, str]) -> int:
    maximum = runtime.settings.delegation_max_ttl
    requested = form.get("requested_lifetime")
    if requested is None:
        return maximum
    if not requested.isdigit() or int(requested) < 1:
        raise OAuthRequestError("requested_lifetime must be a positive number of seconds")
    return min(int(requested), maximum)


def _pair_body(pair: TokenPair, scopes: list[str], jkt: str | None) -> dict[str, Any]:
    return {
        **_token_body(pair.access, scopes, jkt),
        "issued_token_type": ACCESS_TOKEN_TYPE,  # RFC 8693 s2.2.1
        "refresh_token": pair.refresh.token,
        "delegation_id": pair.session_id,
    }


async def _refresh(
    runtime: Runtime, request: Request, form: dict[str, str], client: OAuthClient
) -> dict[str, Any]:
    agent_id = _require_agent(client)
    token = form.get("refresh_token")
    if not token:
        raise OAuthRequestError("refresh_token is required")
    jkt = await _dpop_jkt(runtime, request, client)
    try:
        pair = await runtime.auth.refresh(token, device_info(request), client_id=agent_id, jkt=jkt)
    except RefreshTokenError as exc:
        raise OAuthRequestError(exc.message, error="invalid_grant") from exc
    session = await runtime.store.session_by_id(pair.session_id)
    scopes = sorted(session.scopes or ()) if session is not None else []
    return _pair_body(pair, scopes, jkt)
