"""Reading a posted form: CSRF first, then bounded text fields."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request

from authgate.http.pages.form_csrf import verify_csrf

__all__ = ["read_form", "text"]

# Only small text fields are expected; a file upload is refused by these limits.
_MAX_FIELDS = 10


async def read_form(request: Request, *, secure: bool) -> FormData:
    """The form, once it has passed the CSRF checks (raises CsrfError otherwise)."""
    form = await request.form(max_files=0, max_fields=_MAX_FIELDS)
    verify_csrf(request, form, secure=secure)
    return form


def text(form: FormData, name: str, *, limit: int) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""
