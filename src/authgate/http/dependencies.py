"""FastAPI dependencies: ``require("use_agent")`` gives a handler the caller's Principal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request

from authgate.authenticator import Authenticator
from authgate.errors import PermissionDeniedError, TokenMissingError
from authgate.http.credentials import access_cookie_name, device_info, extract_token
from authgate.principal import Principal
from authgate.runtime import Runtime

__all__ = ["PRINCIPAL_KEY", "authenticate_request", "get_runtime", "require"]

#: Where the middleware leaves the principal in the ASGI scope.
PRINCIPAL_KEY = "authgate.principal"


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.authgate
    return runtime


def authenticate_request(
    request: Request, authenticator: Authenticator, *, secure_cookies: bool
) -> Principal:
    token = extract_token(request, cookie_name=access_cookie_name(secure_cookies))
    if token is None:
        raise TokenMissingError()
    return authenticator.authenticate(token, device_info(request))


def require(*permissions: str) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that authenticates the request and demands every given permission."""
    needed = frozenset(permissions)

    async def dependency(request: Request) -> Principal:
        principal = request.scope.get(PRINCIPAL_KEY)
        if not isinstance(principal, Principal):
            runtime = get_runtime(request)
            principal = authenticate_request(
                request, runtime.authenticator, secure_cookies=runtime.settings.secure_cookies
            )
            request.scope[PRINCIPAL_KEY] = principal
        missing = needed - principal.permissions
        if missing:
            raise PermissionDeniedError(missing)
        return principal

    return dependency
