"""The agent endpoint that shows authgate at work: ``/api/ai/chat`` (user administration
is in ``admin_users``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from authgate.http.dependencies import require
from authgate.http.routes.auth import json_only
from authgate.http.schemas import ChatRequest
from authgate.principal import Principal

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
