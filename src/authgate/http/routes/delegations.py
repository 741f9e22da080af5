"""``/auth/delegations``: which agents a user lets act for them, and taking it back.

``POST`` records the user's consent to one agent (scopes and the longest delegation it
may hold); token exchange (RFC 8693) for that pair is refused without it (issue 19
item 4). ``GET`` lists consents and live delegations; ``DELETE`` ends a delegation, or
withdraws a consent together with every delegation it allowed. Only the user's own
token may do any of this, never an agent's, not even one acting for the user.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from authgate.errors import InvalidRequestError, NotFoundError
from authgate.http.credentials import device_info
from authgate.http.dependencies import get_runtime, require
from authgate.http.routes.auth import iso, json_only
from authgate.principal import Principal
from authgate.runtime import Runtime
from authgate.scopes import is_vault_scope
from authgate.storage.models import AgentConsent, Session

__all__ = ["router"]

router = APIRouter(prefix="/auth/delegations", tags=["agents"], dependencies=[Depends(json_only)])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
# Only the user may see, grant or revoke delegations, never an agent acting for them.
UserOnly = Annotated[Principal, Depends(require(delegation="forbid"))]
Scope = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class ConsentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    clientId: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=32)]
    maxTtl: Annotated[int, Field(ge=60)] | None = None


def _delegation_json(session: Session, names: dict[str, str]) -> dict[str, Any]:
    actor = session.actor or ""
    return {
        "id": session.id,
        "agent": {"id": actor, "name": names.get(actor)},
        "scopes": list(session.scopes or ()),
        "createdAt": iso(session.created_at),
        "lastUsedAt": iso(session.last_used_at),
        "expiresAt": iso(session.expires_at),
        "parentSessionId": session.parent_id,
    }


def _consent_json(consent: AgentConsent, names: dict[str, str]) -> dict[str, Any]:
    return {
        "id": consent.id,
        "agent": {"id": consent.agent_id, "name": names.get(consent.agent_id)},
        "scopes": list(consent.scopes),
        "maxTtl": consent.max_ttl,
        "createdAt": iso(consent.created_at),
        "updatedAt": iso(consent.updated_at),
    }


async def _agent_names(runtime: Runtime) -> dict[str, str]:
    return {client.client_id: client.name for client in await runtime.clients.all("agent")}


@router.get("")
async def list_delegations(principal: UserOnly, runtime: RuntimeDep) -> dict[str, Any]:
    rows = await runtime.auth.delegations(principal.id)
    consents = await runtime.consents.for_user(principal.id)
    names = await _agent_names(runtime)
    return {
        "delegations": [_delegation_json(row, names) for row in rows],
        "consents": [_consent_json(consent, names) for consent in consents],
    }


@router.post("", status_code=201)
async def grant_consent(
    body: ConsentRequest, principal: UserOnly, runtime: RuntimeDep
) -> dict[str, Any]:
    """Let one agent act for the caller, within ``scopes``, for at most ``maxTtl`` seconds."""
    agent = await runtime.clients.get(body.clientId)
    if agent is None or agent.kind != "agent" or agent.disabled:
        raise NotFoundError("No such agent")
    _check_scopes(body.scopes, agent.scopes, principal)
    ceiling = runtime.settings.delegation_max_ttl
    max_ttl = ceiling if body.maxTtl is None else body.maxTtl
    if max_ttl > ceiling:
        raise InvalidRequestError(f"maxTtl can be at most {ceiling} seconds")
    consent = await runtime.consents.grant(
        user_id=principal.id, agent_id=agent.client_id, scopes=body.scopes, max_ttl=max_ttl
    )
    await runtime.audit.record(
        "delegation.consented", user_id=principal.id, actor=agent.client_id, scopes=consent.scopes
    )
    return {"consent": _consent_json(consent, {agent.client_id: agent.name})}


def _check_scopes(requested: list[str], registered: list[str], principal: Principal) -> None:
    # RFC 8693 s2.1: never wider than the agent's registration nor the user's rights.
    beyond = sorted(
        scope
        for scope in set(requested)
        if scope not in registered or not (scope in principal.permissions or is_vault_scope(scope))
    )
    if beyond:
        raise InvalidRequestError(f"These scopes cannot be delegated: {', '.join(beyond)}")


@router.delete("/consents/{consent_id}")
async def withdraw_consent(
    consent_id: str, principal: UserOnly, runtime: RuntimeDep, request: Request
) -> dict[str, Any]:
    """Withdraw a consent; the delegations it allowed end at once."""
    consent = await runtime.consents.withdraw(user_id=principal.id, consent_id=consent_id[:64])
    if consent is None:
        raise NotFoundError("No such consent")
    device = device_info(request)
    ended = 0
    for session in await runtime.auth.delegations(principal.id):
        if session.actor == consent.agent_id:
            await runtime.auth.revoke_session(principal.id, session.id, device)
            ended += 1
    await runtime.audit.record(
        "delegation.consent_withdrawn", user_id=principal.id, actor=consent.agent_id
    )
    return {"success": True, "consentId": consent.id, "revokedDelegations": ended}


@router.delete("/{delegation_id}")
async def revoke_delegation(
    delegation_id: str, principal: UserOnly, runtime: RuntimeDep, request: Request
) -> dict[str, Any]:
    session = await runtime.store.session_by_id(delegation_id)
    if session is None or session.kind != "delegation":
        raise NotFoundError("No such active delegation")
    await runtime.auth.revoke_session(principal.id, delegation_id, device_info(request))
    return {"success": True, "delegationId": delegation_id}
