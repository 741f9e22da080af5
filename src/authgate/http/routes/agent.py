"""The agent endpoint that shows authgate at work: ``/api/ai/chat`` (user administration
is in ``admin_users``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from authgate.http.dependencies import require
from authgate.http.routes.auth import json_only
from authgate.http.schemas import ChatRequest
from authgate.principal import Principal

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["agent"])

_agent_user = require("use_agent", delegation="allow", agents="allow")


async def _json_agent_user(request: Request) -> Principal:
    """``json_only`` then ``require(...)``, in that order, as one dependency.

    The same checks, in the order a router-level ``Depends(json_only)`` and the route's
    ``Depends(require(...))`` ran them (415 before any authentication), for one
    dependency's resolution per request instead of two: this is the endpoint every
    agent request goes through.
    """
    await json_only(request)
    return await _agent_user(request)


@router.post("/ai/chat")
async def chat(
    body: ChatRequest,
    principal: Annotated[Principal, Depends(_json_agent_user)],
) -> dict[str, Any]:
    return {
        "reply": f"Echo: {body.message}",
        "message": body.message,
        "user": {"id": principal.id, "email": principal.email},
        "sessionId": principal.session_id,
    }
