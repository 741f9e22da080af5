"""Rendering: one Jinja2 environment, autoescaped, loaded once from ``authgate/templates``.

Pages carry no inline script or style, so a ``default-src 'self'`` CSP holds; the only
asset is ``/static/style.css``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from authgate.http.pages.form_csrf import CSRF_FIELD, csrf_token, set_csrf_cookie

__all__ = ["PAGE_HEADERS", "error_page", "format_time", "iso_time", "render"]

# Pages show personal data and carry CSRF tokens: never cache them anywhere. The site-wide
# "no-referrer" would make a browser send "Origin: null" with every form POST (Fetch
# standard, "append a request Origin header"), which the CSRF origin check must refuse.
PAGE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "same-origin"}


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("authgate", "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["datetime"] = format_time
    env.filters["isotime"] = iso_time
    return env


def format_time(timestamp: int | None) -> str:
    if timestamp is None:
        return "never"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%d %b %Y, %H:%M UTC")


def iso_time(timestamp: int | None) -> str:
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def render(
    request: Request,
    template: str,
    *,
    secure: bool,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """The page, with a CSRF token for its forms (and the cookie that pairs with it)."""
    token = csrf_token(request, secure=secure)
    context.setdefault("signed_in", None)
    html = (
        _environment()
        .get_template(template)
        .render(csrf_field=CSRF_FIELD, csrf_token=token, **context)
    )
    response = HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)
    set_csrf_cookie(response, token, secure=secure)
    return response


def error_page(
    request: Request,
    *,
    secure: bool,
    status_code: int,
    heading: str,
    message: str,
    back_url: str,
    back_label: str,
) -> HTMLResponse:
    """A page that says what went wrong and links the way back."""
    return render(
        request,
        "error.html",
        secure=secure,
        status_code=status_code,
        heading=heading,
        message=message,
        back_url=back_url,
        back_label=back_label,
    )
