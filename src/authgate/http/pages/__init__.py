"""Server-rendered pages for people in a browser: sign in, register, account, errors.

``install(app)`` adds the routes and serves ``/static``. The pages use the same
services as the JSON API; forms are CSRF-protected (see ``csrf``).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from starlette.staticfiles import StaticFiles

from authgate.http.pages import (
    account,
    approvals,
    apps,
    authorize,
    failures,
    login,
    recovery,
    second_factor,
    security,
)

__all__ = ["FORM_PATHS", "install", "router"]

router = APIRouter(include_in_schema=False)
router.include_router(login.router)
router.include_router(account.router)
router.include_router(failures.router)
router.include_router(recovery.router)
router.include_router(second_factor.router)
router.include_router(security.router)
router.include_router(authorize.router)
router.include_router(apps.router)
router.include_router(approvals.router)

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
    # Accounts (issue 16)
    "/forgot-password",
    "/reset-password",
    "/verify-email",
    "/login/mfa",
    "/login/passkey",
    "/login/passkey/options",
    "/account/password",
    "/account/email/resend",
    "/account/mfa/totp/start",
    "/account/mfa/totp/confirm",
    "/account/mfa/totp/disable",
    "/account/passkeys/options",
    "/account/passkeys/add",
    "/account/passkeys/rename",
    "/account/passkeys/remove",
    "/account/delete",
    # The consent form of the authorization server and the app revocation on /account.
    "/oauth2/consent",
    "/account/apps/revoke",
    # CIBA (issue 17): answering an agent's request, and the passkey step-up for it.
    "/account/approvals/approve",
    "/account/approvals/deny",
    "/account/approvals/passkey-options",
)


def install(app: FastAPI, routes: APIRouter | None = None) -> None:
    """Add the pages (to ``routes`` when given) and their stylesheet to ``app``."""
    (routes or app).include_router(router)
    app.mount("/static", StaticFiles(packages=[("authgate", "static")]), name="static")
