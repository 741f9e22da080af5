"""``/api/admin/users``: user administration for holders of ``manage_users``.

Disable and delete take effect on the next request on every instance (the session
revocation path); agents acting for someone cannot administer users.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from authgate.http.dependencies import get_runtime, require
from authgate.http.routes.auth import json_only, user_json
from authgate.principal import Principal
from authgate.runtime import Runtime
from authgate.storage.models import User

__all__ = ["router"]

router = APIRouter(prefix="/api/admin/users", tags=["admin"], dependencies=[Depends(json_only)])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
Admin = Annotated[Principal, Depends(require("manage_users", delegation="forbid"))]
Role = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class RolesBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    roles: Annotated[list[Role], Field(max_length=32)]


def _admin_json(runtime: Runtime, user: User) -> dict[str, Any]:
    return {
        **user_json(user, runtime.settings.permissions_for(list(user.roles))),
        "active": user.is_active,
        "mfa": user.totp_enabled_at is not None,
    }


@router.get("")
async def list_users(
    _admin: Admin,
    runtime: RuntimeDep,
    q: Annotated[str | None, Query(max_length=320)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    users = await runtime.admin.search(q, limit=limit, offset=offset)
    return {"users": [_admin_json(runtime, u) for u in users], "limit": limit, "offset": offset}


@router.get("/{user_id}")
async def show_user(user_id: str, _admin: Admin, runtime: RuntimeDep) -> dict[str, Any]:
    user = await runtime.admin.get(user_id)
    identities = await runtime.oauth.identities(user.id)
    return {
        "user": _admin_json(runtime, user),
        "sessions": len(await runtime.auth.active_sessions(user.id)),
        "identities": [i.provider for i in identities],
    }


@router.post("/{user_id}/disable")
async def disable_user(user_id: str, admin: Admin, runtime: RuntimeDep) -> dict[str, Any]:
    revoked = await runtime.admin.disable(user_id, by=admin.id)
    return {"success": True, "revokedSessions": revoked}


@router.post("/{user_id}/enable")
async def enable_user(user_id: str, admin: Admin, runtime: RuntimeDep) -> dict[str, Any]:
    await runtime.admin.enable(user_id, by=admin.id)
    return {"success": True}


@router.post("/{user_id}/logout")
async def logout_user(user_id: str, admin: Admin, runtime: RuntimeDep) -> dict[str, Any]:
    return {"success": True, "revokedSessions": await runtime.admin.logout(user_id, by=admin.id)}


@router.post("/{user_id}/reset-mfa")
async def reset_mfa(user_id: str, admin: Admin, runtime: RuntimeDep) -> dict[str, Any]:
    await runtime.admin.reset_mfa(user_id, by=admin.id)
    return {"success": True}


@router.put("/{user_id}/roles")
async def set_roles(
    user_id: str, body: RolesBody, admin: Admin, runtime: RuntimeDep
) -> dict[str, Any]:
    user = await runtime.admin.set_roles(user_id, body.roles, by=admin.id)
    return {"user": _admin_json(runtime, user)}


@router.delete("/{user_id}")
async def delete_user(user_id: str, admin: Admin, runtime: RuntimeDep) -> dict[str, Any]:
    pseudonym = await runtime.admin.delete(user_id, by=admin.id)
    return {"success": True, "auditId": pseudonym}
