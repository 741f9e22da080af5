"""Form bodies and error answers of the standard OAuth endpoints (RFC 6749 s3.2, s5.2).

These endpoints speak the RFC names (``error``, ``error_description``), unlike the
``/auth`` API's own shape.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse

from authgate.clients import ClientRegistry, InvalidClientError, parse_basic_auth
from authgate.errors import AuthgateError
from authgate.storage.models import OAuthClient

__all__ = ["OAuthRequestError", "authenticate_client", "oauth_error", "read_form"]

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class OAuthRequestError(AuthgateError):
    error = "invalid_request"
    message = "The request is missing a parameter or is malformed"
    status_code = 400

    def __init__(self, message: str | None = None, *, error: str | None = None) -> None:
        if error is not None:
            self.error = error
        super().__init__(message)


def oauth_error(exc: AuthgateError) -> JSONResponse:
    headers = dict(NO_STORE)
    if exc.status_code == 401:
        headers["WWW-Authenticate"] = 'Basic realm="authgate"'
    return JSONResponse(
        {"error": exc.error, "error_description": exc.message},
        status_code=exc.status_code,
        headers=headers,
    )


async def read_form(request: Request) -> dict[str, str]:
    mime = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if mime != "application/x-www-form-urlencoded":
        raise OAuthRequestError("Send application/x-www-form-urlencoded")
    try:
        pairs = parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError) as exc:
        raise OAuthRequestError("The form body is not valid") from exc
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            # RFC 6749 s3.2: parameters must not be included more than once.
            raise OAuthRequestError(f"Parameter {name} is repeated")
        form[name] = value
    return form


async def authenticate_client(
    request: Request, form: dict[str, str], registry: ClientRegistry
) -> OAuthClient:
    """client_secret_basic or client_secret_post, never both (RFC 6749 s2.3)."""
    basic = parse_basic_auth(request.headers.get("authorization"))
    posted = form.get("client_id"), form.get("client_secret")
    if basic is not None and posted[1] is not None:
        raise OAuthRequestError("Use one client authentication method")
    if basic is not None:
        return await registry.authenticate(*basic)
    if posted[0] is not None and posted[1] is not None:
        return await registry.authenticate(posted[0], posted[1])

    raise InvalidClientError()
