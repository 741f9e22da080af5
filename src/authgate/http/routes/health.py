"""``/healthz``: liveness plus a database round trip."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy import text

from authgate.http.dependencies import get_runtime
from authgate.runtime import Runtime

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(runtime: Annotated[Runtime, Depends(get_runtime)]) -> JSONResponse:
    try:
        async with runtime.store.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:
        return JSONResponse({"status": "unavailable", "database": "down"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})
