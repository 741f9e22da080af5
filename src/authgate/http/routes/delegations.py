"""``/auth/delegations``: what a user has delegated to agents, and taking it back."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from authgate.errors import NotFoundError
from authgate.http.credentials import device_info
from authgate.http.dependencies import get_runtime, require
from authgate.http.routes.auth import iso
from authgate.principal import Principal
from authgate.runtime import Runtime
from authgate.storage.models import Session

__all__ = ["router"]

router = APIRouter(prefix="/auth/delegations", tags=["agents"])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
# Only the user may see or revoke delegations, never an agent acting for them.
UserOnly = Annotated[Principal, Depends(require(delegation="forbid"))]


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


@router.get("")
async def list_delegations(principal: UserOnly, runtime: RuntimeDep) -> dict[str, Any]:
    rows = await runtime.auth.delegations(principal.id)
    names = {client.client_id: client.name for client in await runtime.clients.all("agent")}
    return {"delegations": [_delegation_json(row, names) for row in rows]}


@router.delete("/{delegation_id}")
async def revoke_delegation(
    delegation_id: str, principal: UserOnly, runtime: RuntimeDep, request: Request
) -> dict[str, Any]:
    session = await runtime.store.session_by_id(delegation_id)
    if session is None or session.kind != "delegation":
        raise NotFoundError("No such active delegation")
    await runtime.auth.revoke_session(principal.id, delegation_id, device_info(request))
    return {"success": True, "delegationId": delegation_id}
