"""``/healthz``: liveness plus a database round trip. ``/readyz``: fit to take traffic.

``/healthz`` answers 503 when the database does not answer. ``/readyz`` answers 503
when a supervised background task has missed its staleness bound or the revocation
view could not be confirmed current (access checks then fail closed): a load balancer
takes the instance out until it heals. Both 503s have the documented body and
``Retry-After``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from authgate.http.dependencies import get_runtime
from authgate.http.error_responses import unavailable_response
from authgate.runtime import Runtime

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(runtime: Annotated[Runtime, Depends(get_runtime)]) -> JSONResponse:
    try:
        await runtime.store.ping()
    except Exception:  # any failure of the round trip means "not healthy"
        return unavailable_response(status="unavailable", database="down")
    return JSONResponse({"status": "ok", "database": "ok"})


@router.get("/readyz")
async def readyz(runtime: Annotated[Runtime, Depends(get_runtime)]) -> JSONResponse:
    checks = runtime.readiness()
    if any(state != "ok" for state in checks.values()):
        return unavailable_response(status="not ready", checks=checks)
    return JSONResponse({"status": "ready", "checks": checks})
