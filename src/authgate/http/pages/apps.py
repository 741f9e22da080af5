"""``/account``'s "Apps with access": the third-party clients a user let in (grants of
authgate.authserver), each revocable at once.

Revoking ends the grant's refresh token and, through the revocation list and feed, its
access tokens (RFC 7009 s2.1 semantics for the whole grant), and forgets the consent,
so the app must ask again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from authgate.errors import CsrfError, NotFoundError
from authgate.http.credentials import device_info
from authgate.http.dependencies import get_runtime
from authgate.http.pages.browser import browser_session, to_login
from authgate.http.pages.forms import read_form, text
from authgate.http.pages.login import form_expired
from authgate.runtime import Runtime

__all__ = ["AppGrantView", "apps_with_access", "router"]

router = APIRouter(include_in_schema=False)
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


@dataclass(frozen=True, slots=True)
class AppGrantView:
    id: str
    client: str
    verified: bool
    resource: str
    resource_url: str
    scopes: list[str]
    created_at: int
    last_used_at: int


async def apps_with_access(runtime: Runtime, user_id: str) -> list[AppGrantView]:
    server = runtime.authserver
    grants = await server.grants(user_id)
    if not grants:
        return []
    apps = await server.apps.names([g.actor for g in grants if g.actor])
    views = []
    for grant in grants:
        app = apps.get(grant.actor or "")
        target = await server.resources.by_url(grant.resource or "")
        views.append(
            AppGrantView(
                id=grant.id,
                client=app.name if app else "A removed application",
                verified=bool(app and app.trusted),
                resource=target.name if target else "A removed resource",
                resource_url=grant.resource or "",
                scopes=list(grant.scopes or ()),
                created_at=grant.created_at,
                last_used_at=grant.last_used_at,
            )
        )
    return views


@router.post("/account/apps/revoke")
async def revoke_app(request: Request, runtime: RuntimeDep) -> Response:
    secure = runtime.settings.secure_cookies
    try:
        form = await read_form(request, secure=secure)
    except CsrfError:
        return form_expired(request, runtime)
    current = await browser_session(request, runtime)
    if current is None:
        return to_login(request, runtime, next_path="/account")
    grant_id = text(form, "grant", limit=64)
    notice = "app_revoked"
    try:
        await runtime.authserver.revoke_grant(current.principal.id, grant_id, device_info(request))
    except NotFoundError:
        notice = "already_ended"  # someone else's, or already ended: the same answer
    redirect = RedirectResponse(f"/account?notice={notice}", status_code=303)
    return current.keep(redirect, secure=secure)
