"""Turn errors into the stable JSON shape ``{"error": ..., "message": ...}``.

Only this module knows about HTTP answers for errors. 401s carry an RFC 6750 s3
``WWW-Authenticate`` header; validation errors never echo the submitted values,
which could be passwords or tokens, nor field names the schema does not know.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from authgate.agents.dpop import ALGORITHMS
from authgate.errors import (
    AuthenticationError,
    AuthgateError,
    DPoPBindingError,
    DPoPProofError,
    MultipleCredentialsError,
    PermissionDeniedError,
    SecondFactorLockedError,
    StepUpRequiredError,
    StorageUnavailableError,
)
from authgate.http.validation_details import known_field_names, validation_detail

__all__ = ["RETRY_AFTER", "error_response", "install_error_handlers", "unavailable_response"]

logger = logging.getLogger("authgate.http")

REALM = 'Bearer realm="authgate"'
DPOP_REALM = 'DPoP realm="authgate"'
DPOP_ALGS = " ".join(ALGORITHMS)
# RFC 9110 s10.2.3: an outage of a store is temporary; tell clients when to retry.
RETRY_AFTER = {"Retry-After": "1"}
_HTTP_TITLES = {
    404: "Not found",
    405: "Method not allowed",
    413: "Payload too large",
    415: "Unsupported media type",
}


def error_response(exc: AuthgateError) -> JSONResponse:
    headers = {}
    if isinstance(exc, DPoPProofError | DPoPBindingError):
        headers.update(_dpop_challenge(exc))
    elif isinstance(exc, AuthenticationError):
        headers["WWW-Authenticate"] = _bearer_challenge(exc)
    elif isinstance(exc, MultipleCredentialsError):
        headers["WWW-Authenticate"] = f'{REALM}, error="{exc.bearer_error}"'  # RFC 6750 s3.1
    elif isinstance(exc, PermissionDeniedError):
        scope = " ".join(exc.missing)
        headers["WWW-Authenticate"] = f'{REALM}, error="insufficient_scope", scope="{scope}"'
    elif isinstance(exc, StepUpRequiredError):
        headers["WWW-Authenticate"] = _step_up_challenge(exc)
    elif isinstance(exc, SecondFactorLockedError):
        headers["Retry-After"] = str(exc.retry_after)
    elif exc.status_code == 503:
        headers.update(RETRY_AFTER)
    return JSONResponse(
        {"error": exc.error, "message": exc.message}, status_code=exc.status_code, headers=headers
    )


def unavailable_response(exc: StorageUnavailableError | None = None, **extra: Any) -> JSONResponse:
    """Every 503: the documented body ``{"error", "message"}`` and ``Retry-After``."""
    exc = exc or StorageUnavailableError()
    body = {"error": exc.error, "message": exc.message, **extra}
    return JSONResponse(body, status_code=503, headers=RETRY_AFTER)


def _step_up_challenge(exc: StepUpRequiredError) -> str:
    # RFC 9470 s3: insufficient_user_authentication, with what would satisfy the resource.
    challenge = f'{REALM}, error="insufficient_user_authentication", acr_values="aal2"'
    if exc.max_age is not None:
        challenge += f', max_age="{exc.max_age}"'
    return challenge


def _bearer_challenge(exc: AuthenticationError) -> str:
    if exc.bearer_error is None:
        return REALM
    return f'{REALM}, error="{exc.bearer_error}", error_description="{exc.message}"'


def _dpop_challenge(exc: DPoPProofError | DPoPBindingError) -> dict[str, str]:
    # RFC 9449 s7.1: the DPoP scheme, with the algorithms a proof may use; s9: the nonce.
    challenge = (
        f'{DPOP_REALM}, error="{exc.bearer_error}", error_description="{exc.message}", '
        f'algs="{DPOP_ALGS}"'
    )
    headers = {"WWW-Authenticate": challenge}
    nonce = getattr(exc, "nonce", None)
    if nonce is not None:
        headers["DPoP-Nonce"] = nonce
    return headers


def json_error(status: int, error: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": error, "message": message, **extra}, status_code=status)


async def _on_authgate_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AuthgateError)
    return error_response(exc)


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(err.get("type") == "json_invalid" for err in errors):
        return json_error(400, "Invalid request", "The request body is not valid JSON")
    known = known_field_names(request.scope.get("route"))
    details: list[dict[str, str]] = []
    for err in errors:
        detail = validation_detail(err, known)
        if detail not in details:
            details.append(detail)
    return json_error(422, "Invalid request", "The request body is not valid", details=details)


async def _on_http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    title = _HTTP_TITLES.get(exc.status_code, "Error")
    response = json_error(exc.status_code, title, str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _on_unexpected(_request: Request, exc: Exception) -> Response:
    logger.error("unhandled error: %s", type(exc).__name__)
    return json_error(500, "Internal error", "Something went wrong; it has been logged")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AuthgateError, _on_authgate_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
