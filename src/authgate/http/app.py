"""The application factory: ``create_app(settings)`` returns the authgate ASGI app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from authgate.clock import Clock, system_clock
from authgate.config import Settings, load_settings
from authgate.http import apidocs, pages
from authgate.http.error_responses import install_error_handlers
from authgate.http.hardening import install_hardening
from authgate.http.routes import (
    accounts,
    admin_users,
    agent,
    auth,
    backchannel,
    connections,
    delegations,
    federation,
    health,
    oauth2,
    passkeys,
    registration,
    revocations,
    token,
    vault,
    wellknown,
)
from authgate.http.routing import PrefixRouter
from authgate.runtime import Runtime

__all__ = ["create_app"]


def create_app(settings: Settings | None = None, *, clock: Clock = system_clock) -> FastAPI:
    settings = settings or load_settings()
    runtime = Runtime(settings, clock=clock)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        # Supervised plain tasks rather than a task group: the server may end the
        # lifespan from another task than the one that started it.
        runtime.start_background()
        try:
            yield
        finally:
            await runtime.close()

    app = FastAPI(
        title="authgate",
        summary="Authentication for AI-agent APIs",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served by apidocs from the package, not a CDN
        redoc_url=None,
    )
    app.state.authgate = runtime
    install_error_handlers(app)
    install_hardening(app, runtime)
    # authgate's routes sit behind one gate, so a route the user adds is not matched
    # after all of them (http/routing.py).
    routes = PrefixRouter()
    routes.include_router(auth.router)
    routes.include_router(federation.router)
    routes.include_router(agent.router)
    routes.include_router(health.router)
    routes.include_router(wellknown.router)
    routes.include_router(oauth2.router)
    routes.include_router(revocations.router)
    routes.include_router(token.router)
    routes.include_router(backchannel.router)
    routes.include_router(registration.router)
    routes.include_router(delegations.router)
    routes.include_router(connections.router)
    routes.include_router(vault.router)
    routes.include_router(accounts.router)
    routes.include_router(admin_users.router)
    routes.include_router(passkeys.router)
    pages.install(app, routes)
    auth.add_refresh_route(app)  # ahead of the gate: see add_refresh_route
    app.include_router(routes)
    apidocs.install(app)
    return app
