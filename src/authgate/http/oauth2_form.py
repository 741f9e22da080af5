"""Form bodies and error answers of the standard OAuth endpoints (RFC 6749 s3.2, s5.2).

These endpoints speak the RFC names (``error``, ``error_description``), unlike the
``/auth`` API's own shape.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse

from authgate.agents.assertion import ASSERTION_TYPE, ClientAssertionVerifier
from authgate.agents.registry import ClientRegistry, InvalidClientError, parse_basic_auth
from authgate.errors import AuthgateError, DPoPProofError, StorageUnavailableError
from authgate.http.error_responses import unavailable_response
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
    if isinstance(exc, StorageUnavailableError):
        # The same 503 as everywhere (body and Retry-After), not an RFC 6749 error code.
        response = unavailable_response(exc)
        response.headers.update(NO_STORE)
        return response
    if isinstance(exc, DPoPProofError):
        return _dpop_error(exc, headers)
    if exc.status_code == 401:
        headers["WWW-Authenticate"] = 'Basic realm="authgate"'
    return JSONResponse(
        {"error": exc.error, "error_description": exc.message},
        status_code=exc.status_code,
        headers=headers,
    )


def _dpop_error(exc: DPoPProofError, headers: dict[str, str]) -> JSONResponse:
    # RFC 9449 s5 and s8: at the token endpoint a bad proof or a missing nonce is a 400
    # with the OAuth error code; the nonce to retry with comes in DPoP-Nonce.
    if exc.nonce is not None:
        headers["DPoP-Nonce"] = exc.nonce
    return JSONResponse(
        {"error": exc.bearer_error, "error_description": exc.message},
        status_code=400,
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
    request: Request,
    form: dict[str, str],
    registry: ClientRegistry,
    assertions: ClientAssertionVerifier | None = None,
) -> OAuthClient:
    """client_secret_basic, client_secret_post or private_key_jwt; exactly one (RFC 6749
    s2.3, RFC 7523 s2.2)."""
    basic = parse_basic_auth(request.headers.get("authorization"))
    posted = form.get("client_id"), form.get("client_secret")
    assertion = form.get("client_assertion")
    if sum((basic is not None, posted[1] is not None, assertion is not None)) > 1:
        raise OAuthRequestError("Use one client authentication method")
    if assertion is not None and assertions is not None:
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise OAuthRequestError("Unsupported client_assertion_type")
        return await assertions.authenticate(assertion, posted[0])
    if basic is not None:
        return await registry.authenticate(*basic)
    if posted[0] is not None and posted[1] is not None:
        return await registry.authenticate(posted[0], posted[1])

    raise InvalidClientError()
