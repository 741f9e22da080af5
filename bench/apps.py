"""ASGI app factories for the HTTP benchmark (``uvicorn --factory bench.apps:<name>``).

Both read their settings from the environment, exactly as ``authgate serve`` does.
``unprotected`` is bench-only: the same app and the same ``POST /api/ai/chat`` handler
with a fixed principal already in the ASGI scope, as ``AuthMiddleware`` would leave it,
so ``require("use_agent")`` finds it and skips token extraction, verification and the
revocation check. The difference between the two is exactly authentication's cost.
The product itself has no unauthenticated route.
"""

from __future__ import annotations

import logging.config
import sys

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from authgate.config import load_settings
from authgate.http.app import create_app
from authgate.http.dependencies import PRINCIPAL_KEY
from authgate.logconfig import log_config, resolve_log_format
from authgate.principal import Principal

FIXED = Principal(
    id="bench-user",
    email="bench@example.com",
    roles=("user",),
    permissions=frozenset({"use_agent"}),
    session_id="bench-session",
    device_fingerprint="bench",
    token_id="bench",
    expires_at=2**31,
)


def protected() -> FastAPI:
    return create_app(load_settings())


def protected_logged() -> FastAPI:
    """``protected`` with logging set up as ``authgate serve`` does it (JSON, its level).

    The format is resolved as ``authgate serve`` resolves it (``auto`` is JSON unless a
    person reads a terminal in development), so the access log takes the same path.
    """
    settings = load_settings()
    fmt = resolve_log_format(settings.log_format, env=settings.env, tty=sys.stderr.isatty())
    logging.config.dictConfig(log_config(settings.log_level, fmt))
    if settings.access_log:
        # authgate serve runs uvicorn with access_log=False, which empties this logger
        # after applying the log config; the config above has just given it a handler
        # again, and uvicorn would log every request a second time (its slow way).
        uvicorn_access = logging.getLogger("uvicorn.access")
        uvicorn_access.handlers = []
        uvicorn_access.propagate = False
    return create_app(settings)


def unprotected() -> ASGIApp:
    app = create_app(load_settings())

    async def with_principal(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[PRINCIPAL_KEY] = FIXED
        await app(scope, receive, send)

    return with_principal
