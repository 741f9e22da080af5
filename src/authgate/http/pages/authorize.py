"""``/oauth2/authorize`` (GET and POST, RFC 6749 s3.1) and the consent form it shows.

Order matters (RFC 6749 s4.1.2.1, RFC 9700 s4.1.3): the client and its redirect URI are
checked first, and any error there is a page, never a redirect. Every later answer goes
to the redirect URI with ``state`` and ``iss`` (RFC 9207 s2). Not signed in: to
``/login`` and back here. ``prompt=none`` never shows a page (OIDC Core s3.1.2.1).
The consent form is CSRF-protected (``form_csrf``) and the page is framed by no one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from authgate.authserver.errors import AuthorizeError, UnsafeRedirectError
from authgate.authserver.requests import AuthorizationRequest, RequestReader
from authgate.errors import CsrfError
from authgate.http.dependencies import get_runtime
from authgate.http.pages.browser import BrowserSession, browser_session, to_login
from authgate.http.pages.forms import read_form, text
from authgate.http.pages.login import form_expired
from authgate.http.pages.templates import error_page, render
from authgate.runtime import Runtime

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]

AUTHORIZE = "/oauth2/authorize"
_MAX_FIELDS = 20
_MAX_REQUEST = 8192
MAX_NEXT = 2048  # the longest `next` that /login accepts (pages.next_target)


@router.get(AUTHORIZE)
async def authorize_get(request: Request, runtime: RuntimeDep) -> Response:
    return await _authorize(request, runtime, list(request.query_params.multi_items()))


@router.post(AUTHORIZE)
async def authorize_post(request: Request, runtime: RuntimeDep) -> Response:
    # RFC 6749 s3.1: the authorization request may also come as a form POST. It changes
    # nothing by itself (like GET), so it needs no CSRF token; the consent form does.
    form = await request.form(max_files=0, max_fields=_MAX_FIELDS)
    pairs = [(name, value) for name, value in form.multi_items() if isinstance(value, str)]
    return await _authorize(request, runtime, pairs)


@router.post("/oauth2/consent")
async def consent(request: Request, runtime: RuntimeDep) -> Response:
    try:
        form = await read_form(request, secure=runtime.settings.secure_cookies)
    except CsrfError:
        return form_expired(request, runtime)
    pairs = parse_qsl(text(form, "request", limit=_MAX_REQUEST), keep_blank_values=True)
    checked = await _read(request, runtime, pairs)
    if isinstance(checked, Response):
        return checked
    current = await browser_session(request, runtime)
    if current is None:
        return _sign_in(request, runtime, checked)
    server = runtime.authserver
    user_id = current.principal.id
    if text(form, "decision", limit=10) != "allow":
        await server.deny(checked, user_id)
        return _to_client(runtime, checked, current, {"error": "access_denied"})
    scopes = server.grantable(checked, current.principal.roles)
    if not scopes:
        return _to_client(runtime, checked, current, _no_scope())
    code = await server.approve(checked, user_id, scopes, remember=True)
    return _to_client(runtime, checked, current, {"code": code})


async def _authorize(
    request: Request, runtime: Runtime, pairs: Sequence[tuple[str, str]]
) -> Response:
    checked = await _read(request, runtime, pairs)
    if isinstance(checked, Response):
        return checked
    current = await browser_session(request, runtime)
    if current is None:
        if "none" in checked.prompt:
            return _redirect(
                runtime, checked.redirect_uri, checked.state, {"error": "login_required"}
            )
        return _sign_in(request, runtime, checked)
    server = runtime.authserver
    scopes = server.grantable(checked, current.principal.roles)
    if not scopes:
        return _to_client(runtime, checked, current, _no_scope())
    missing = await server.missing_consent(checked, current.principal.id, scopes)
    if not missing:
        code = await server.approve(checked, current.principal.id, scopes, remember=False)
        return _to_client(runtime, checked, current, {"code": code})
    if "none" in checked.prompt:
        return _to_client(runtime, checked, current, {"error": "consent_required"})
    return _consent_page(request, runtime, checked, current, missing, scopes)


async def _read(
    request: Request, runtime: Runtime, pairs: Sequence[tuple[str, str]]
) -> AuthorizationRequest | Response:
    server = runtime.authserver
    try:
        return await RequestReader(server.apps, server.resources).read(pairs)
    except UnsafeRedirectError as exc:
        return error_page(
            request,
            secure=runtime.settings.secure_cookies,
            status_code=400,
            heading="This sign-in link is not valid",
            message=f"{exc.message}. Nothing was sent back to the application.",
            back_url="/account",
            back_label="Go to your account",
        )
    except AuthorizeError as exc:
        return _redirect(
            runtime,
            exc.redirect_uri,
            exc.state,
            {"error": exc.error, "error_description": exc.message},
        )


def _sign_in(request: Request, runtime: Runtime, checked: AuthorizationRequest) -> Response:
    """To /login and back here; a request too long to come back to is said so."""
    back = f"{AUTHORIZE}?{checked.query}"
    if len(back) > MAX_NEXT:
        return _redirect(
            runtime,
            checked.redirect_uri,
            checked.state,
            {"error": "invalid_request", "error_description": "The request is too long"},
        )
    return to_login(request, runtime, next_path=back)


def _no_scope() -> dict[str, str]:
    return {"error": "invalid_scope", "error_description": "You may not grant any of these scopes"}


def _consent_page(
    request: Request,
    runtime: Runtime,
    checked: AuthorizationRequest,
    current: BrowserSession,
    missing: list[str],
    scopes: Sequence[str],
) -> Response:
    client = checked.client
    secure = runtime.settings.secure_cookies
    response = render(
        request,
        "consent.html",
        secure=secure,
        signed_in=current.principal.email,
        client_name=client.name,
        verified=client.trusted,
        registered_via=client.registered_via,
        document_host=urlsplit(client.public_id).netloc,
        resource_name=checked.resource.name,
        resource_url=checked.resource.url,
        redirect_host=_host_of(checked.redirect_uri),
        scopes=[{"name": s, "description": checked.resource.describe(s)} for s in missing],
        already=sorted(set(scopes) - set(missing)),
        request_query=checked.query,
    )
    # Framed by no one, whatever the site-wide policy says (clickjacking, RFC 9700 s4.16).
    csp = runtime.settings.content_security_policy
    if "frame-ancestors" not in csp:
        csp = f"{csp}; frame-ancestors 'none'"
    response.headers["Content-Security-Policy"] = csp
    response.headers["X-Frame-Options"] = "DENY"
    return current.keep(response, secure=secure)


def _host_of(uri: str) -> str:
    parts = urlsplit(uri)
    return parts.netloc or f"{parts.scheme}: (an app on this device)"


def _to_client(
    runtime: Runtime,
    checked: AuthorizationRequest,
    current: BrowserSession,
    params: dict[str, str],
) -> Response:
    response = _redirect(runtime, checked.redirect_uri, checked.state, params)
    return current.keep(response, secure=runtime.settings.secure_cookies)


def _redirect(
    runtime: Runtime, redirect_uri: str, state: str | None, params: dict[str, str]
) -> Response:
    """The authorization response (RFC 6749 s4.1.2) with ``iss`` (RFC 9207 s2); 303 after a
    POST (RFC 9700 s4.12)."""
    values = dict(params)
    if state is not None:
        values["state"] = state
    values["iss"] = runtime.settings.metadata_issuer
    separator = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(f"{redirect_uri}{separator}{urlencode(values)}", status_code=303)
