"""``/account``: the requests agents wait on (CIBA, see ``approvals``), profile, linked
identities, the sessions signed in as this user, the agents acting for them (RFC 8693
delegations), and their connected accounts and API keys (the credential vault).

Each session can be signed out on its own, or all at once; each delegation revoked;
each connection disconnected. Not signed in: 303 to ``/login?next=/account``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from authgate.errors import CredentialNotFoundError, CsrfError, NotFoundError
from authgate.http.cookies import clear_auth_cookies
from authgate.http.credentials import access_cookie_name, device_info, refresh_cookie_name
from authgate.http.dependencies import get_runtime
from authgate.http.pages.approval_view import pending_views
from authgate.http.pages.apps import apps_with_access
from authgate.http.pages.browser import BrowserSession, browser_session, to_login
from authgate.http.pages.connections import connected_accounts
from authgate.http.pages.forms import read_form, text
from authgate.http.pages.login import form_expired
from authgate.http.pages.providers import linked_identities
from authgate.http.pages.security_view import security_view
from authgate.http.pages.templates import error_page, render
from authgate.http.pages.useragents import describe
from authgate.runtime import Runtime
from authgate.storage.models import Session

__all__ = ["ACCOUNT", "DelegationView", "SessionView", "form_action", "router", "signed_in"]

router = APIRouter(include_in_schema=False)
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]

ACCOUNT = "/account"
_NOTICES = {
    "session_revoked": "That session has been signed out.",
    "already_ended": "That session had already ended.",
    "delegation_revoked": "The agent's access has been revoked.",
    "connection_revoked": "Disconnected. The provider has revoked authgate's access.",
    "connection_removed": "Disconnected here. The provider did not confirm that it revoked "
    "access; you can also remove it in your settings there.",
    "key_removed": "The API key has been deleted.",
    "password_changed": "Your password has been changed; other devices were signed out.",
    "verification_sent": "A confirmation link is on its way to your address.",
    "totp_disabled": "The authenticator app is off.",
    "passkey_added": "The passkey has been added.",
    "passkey_renamed": "The passkey has been renamed.",
    "passkey_removed": "The passkey has been removed.",
    "app_revoked": "The application's access has been revoked.",
    "approval_approved": "Approved. The agent may now do that one action.",
    "approval_denied": "Denied. The agent has been told no.",
}
# What Vault.disconnect returns (revoked at the provider?) -> the notice to show.
_DISCONNECTED = {True: "connection_revoked", False: "connection_removed", None: "key_removed"}


@dataclass(frozen=True, slots=True)
class SessionView:
    id: str
    device: str
    ip: str | None
    created_at: int
    last_used_at: int
    current: bool


@dataclass(frozen=True, slots=True)
class DelegationView:
    id: str
    agent: str
    scopes: list[str]
    created_at: int
    last_used_at: int
    expires_at: int


async def _delegations(runtime: Runtime, user_id: str) -> list[DelegationView]:
    rows = await runtime.auth.delegations(user_id)
    if not rows:
        return []
    names = {agent.client_id: agent.name for agent in await runtime.clients.all("agent")}
    return [
        DelegationView(
            id=row.id,
            agent=names.get(row.actor or "") or row.actor or "An unknown agent",
            scopes=list(row.scopes or ()),
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            expires_at=row.expires_at,
        )
        for row in rows
    ]


def _views(rows: list[Session], current_id: str) -> list[SessionView]:
    views = [
        SessionView(
            id=row.id,
            device=str(describe(row.user_agent)),
            ip=row.ip,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            current=row.id == current_id,
        )
        for row in rows
    ]
    # This device first, then the most recently used.
    return sorted(views, key=lambda view: (not view.current, -view.last_used_at))


def _had_cookies(request: Request, runtime: Runtime) -> bool:
    secure = runtime.settings.secure_cookies
    names = (access_cookie_name(secure), refresh_cookie_name(secure))
    return any(name in request.cookies for name in names)


async def signed_in(request: Request, runtime: Runtime) -> BrowserSession | Response:
    current = await browser_session(request, runtime)
    if current is not None:
        return current
    notice = "session_ended" if _had_cookies(request, runtime) else ""
    return to_login(request, runtime, next_path=ACCOUNT, notice=notice)


async def form_action(
    request: Request, runtime: Runtime
) -> tuple[FormData, BrowserSession] | Response:
    """Every account form: its CSRF token first, then the signed-in browser session."""
    try:
        form = await read_form(request, secure=runtime.settings.secure_cookies)
    except CsrfError:
        return form_expired(request, runtime)
    current = await signed_in(request, runtime)
    if isinstance(current, Response):
        return current
    return form, current


@router.get("/account")
async def account(request: Request, runtime: RuntimeDep) -> Response:
    current = await signed_in(request, runtime)
    if isinstance(current, Response):
        return current
    principal = current.principal
    user = await runtime.store.user_by_id(principal.id)
    if user is None:
        return to_login(request, runtime, next_path=ACCOUNT, notice="session_ended")
    rows = list(await runtime.auth.active_sessions(user.id))
    secure = runtime.settings.secure_cookies
    response = render(
        request,
        "account.html",
        secure=secure,
        signed_in=user.email,
        user=user,
        approvals=await pending_views(runtime, user.id),
        identities=await linked_identities(runtime, user.id),
        sessions=_views(rows, principal.session_id),
        delegations=await _delegations(runtime, user.id),
        connections=await connected_accounts(runtime, user.id, return_to=ACCOUNT),
        apps=await apps_with_access(runtime, user.id),
        notice=_NOTICES.get(request.query_params.get("notice", "")),
        error=None,
        security=await security_view(runtime, user),
    )
    return current.keep(response, secure=secure)


@router.post("/account/sessions/revoke")
async def revoke_session(request: Request, runtime: RuntimeDep) -> Response:
    secure = runtime.settings.secure_cookies
    checked = await form_action(request, runtime)
    if isinstance(checked, Response):
        return checked
    form, current = checked
    session_id = text(form, "session", limit=64)
    principal = current.principal
    try:
        await runtime.auth.revoke_session(principal.id, session_id, device_info(request))
    except NotFoundError:
        redirect = RedirectResponse(f"{ACCOUNT}?notice=already_ended", status_code=303)
        return current.keep(redirect, secure=secure)
    if session_id == principal.session_id:
        response = RedirectResponse("/login?notice=signed_out", status_code=303)
        clear_auth_cookies(response, secure=secure)
        return response
    redirect = RedirectResponse(f"{ACCOUNT}?notice=session_revoked", status_code=303)
    return current.keep(redirect, secure=secure)


@router.post("/account/sessions/revoke-all")
async def revoke_all(request: Request, runtime: RuntimeDep) -> Response:
    secure = runtime.settings.secure_cookies
    checked = await form_action(request, runtime)
    if isinstance(checked, Response):
        return checked
    _form, current = checked
    await runtime.auth.logout_all(current.principal.id, device_info(request))
    response = RedirectResponse("/login?notice=signed_out_everywhere", status_code=303)
    clear_auth_cookies(response, secure=secure)
    return response


@router.post("/account/delegations/revoke")
async def revoke_delegation(request: Request, runtime: RuntimeDep) -> Response:
    secure = runtime.settings.secure_cookies
    checked = await form_action(request, runtime)
    if isinstance(checked, Response):
        return checked
    form, current = checked
    delegation_id = text(form, "delegation", limit=64)
    row = await runtime.store.session_by_id(delegation_id) if delegation_id else None
    notice = "already_ended"
    if row is not None and row.kind == "delegation":
        try:
            await runtime.auth.revoke_session(
                current.principal.id, delegation_id, device_info(request)
            )
            notice = "delegation_revoked"
        except NotFoundError:
            pass  # someone else's, or already revoked: say so without telling which
    redirect = RedirectResponse(f"{ACCOUNT}?notice={notice}", status_code=303)
    return current.keep(redirect, secure=secure)


@router.post("/account/connections/disconnect")
async def disconnect(request: Request, runtime: RuntimeDep) -> Response:
    secure = runtime.settings.secure_cookies
    checked = await form_action(request, runtime)
    if isinstance(checked, Response):
        return checked
    form, current = checked
    connection_id = text(form, "connection", limit=64)
    try:
        revoked = await runtime.vault.disconnect(
            current.principal.id, connection_id, device=device_info(request)
        )
    except CredentialNotFoundError:
        # Someone else's, or already disconnected: the same answer, so ids tell nothing.
        missing = error_page(
            request,
            secure=secure,
            status_code=404,
            heading="Nothing to disconnect",
            message="That account or key is not connected to your account. "
            "It may have been disconnected already.",
            back_url=ACCOUNT,
            back_label="Back to your account",
        )
        return current.keep(missing, secure=secure)
    redirect = RedirectResponse(f"{ACCOUNT}?notice={_DISCONNECTED[revoked]}", status_code=303)
    return current.keep(redirect, secure=secure)
