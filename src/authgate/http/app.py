"""The application factory: ``create_app(settings)`` returns the authgate ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from authgate.clock import Clock, system_clock
from authgate.config import Settings, load_settings
from authgate.http import pages
from authgate.http.error_responses import install_error_handlers
from authgate.http.hardening import install_hardening
from authgate.http.routes import (
    agent,
    auth,
    connections,
    delegations,
    federation,
    health,
    oauth2,
    revocations,
    token,
    vault,
    wellknown,
)
from authgate.runtime import Runtime

__all__ = ["create_app"]


def create_app(settings: Settings | None = None, *, clock: Clock = system_clock) -> FastAPI:
    settings = settings or load_settings()
    runtime = Runtime(settings, clock=clock)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        # A plain task rather than a task group: the server may end the lifespan
        # from another task than the one that started it.
        background = [
            asyncio.create_task(runtime.cleanup_forever()),
            asyncio.create_task(runtime.maintain_keys_forever()),
            asyncio.create_task(runtime.revocation_follower.run()),
        ]
        try:
            yield
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await runtime.close()

    app = FastAPI(
        title="authgate",
        summary="Authentication for AI-agent APIs",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.authgate = runtime
    install_error_handlers(app)
    install_hardening(app, runtime)
    app.include_router(auth.router)
    app.include_router(federation.router)
    app.include_router(agent.router)
    app.include_router(health.router)
    app.include_router(wellknown.router)
    app.include_router(oauth2.router)
    app.include_router(revocations.router)
    app.include_router(token.router)
    app.include_router(delegations.router)
    app.include_router(connections.router)
    app.include_router(vault.router)
    pages.install(app)
    return app
