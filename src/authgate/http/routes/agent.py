"""The agent endpoints that show authgate at work: ``/api/ai/chat`` and ``/api/admin/users``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from authgate.http.dependencies import get_runtime, require
from authgate.http.routes.auth import json_only, user_json
from authgate.http.schemas import ChatRequest
from authgate.principal import Principal
from authgate.runtime import Runtime

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["agent"], dependencies=[Depends(json_only)])


@router.post("/ai/chat")
async def chat(
    body: ChatRequest,
    principal: Annotated[
        Principal, Depends(require("use_agent", delegation="allow", agents="allow"))
    ],
) -> dict[str, Any]:
    return {
        "reply": f"Echo: {body.message}",
        "message": body.message,
        "user": {"id": principal.id, "email": principal.email},
        "sessionId": principal.session_id,
    }


@router.get("/admin/users")
async def list_users(
    _principal: Annotated[
        Principal, Depends(require("manage_agent", delegation="allow", agents="allow"))
    ],
    runtime: Annotated[Runtime, Depends(get_runtime)],
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    users = await runtime.store.list_users(limit=limit, offset=offset)
    perms = runtime.settings.permissions_for
    return {
        "users": [user_json(user, perms(list(user.roles))) for user in users],
        "limit": limit,
        "offset": offset,
    }
