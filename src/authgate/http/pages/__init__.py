"""Server-rendered pages for people in a browser: sign in, register, account, errors.

``install(app)`` adds the routes and serves ``/static``. The pages use the same
services as the JSON API; forms are CSRF-protected (see ``csrf``).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from starlette.staticfiles import StaticFiles

from authgate.http.pages import account, failures, login

__all__ = ["FORM_PATHS", "install", "router"]

router = APIRouter(include_in_schema=False)
router.include_router(login.router)
router.include_router(account.router)
router.include_router(failures.router)

#: The form targets. Each checks its own CSRF form field (``pages.csrf``), so the
#: header-based CSRF middleware, which a form cannot satisfy, leaves them alone.
FORM_PATHS = (
    "/login",
    "/register",
    "/logout",
    "/account/sessions/revoke",
    "/account/sessions/revoke-all",
    "/account/delegations/revoke",
    "/account/connections/disconnect",
)


def install(app: FastAPI, routes: APIRouter | None = None) -> None:
    """Add the pages (to ``routes`` when given) and their stylesheet to ``app``."""
    (routes or app).include_router(router)
    app.mount("/static", StaticFiles(packages=[("authgate", "static")]), name="static")
