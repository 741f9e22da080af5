"""FastAPI dependencies: ``require("use_agent")`` gives a handler the caller's Principal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request

from authgate.authenticator import Authenticator
from authgate.dpop import DPoPVerifier
from authgate.errors import PermissionDeniedError
from authgate.http.credentials import access_cookie_name
from authgate.http.sender import authenticate_connection
from authgate.principal import Principal
from authgate.runtime import Runtime

__all__ = ["PRINCIPAL_KEY", "authenticate_request", "get_runtime", "require"]

#: Where the middleware leaves the principal in the ASGI scope.
PRINCIPAL_KEY = "authgate.principal"


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.authgate
    return runtime


async def authenticate_request(
    request: Request,
    authenticator: Authenticator,
    *,
    secure_cookies: bool,
    dpop: DPoPVerifier | None = None,
) -> Principal:
    """The caller's Principal; a DPoP-bound token also needs its proof (RFC 9449 s7.1)."""
    cookie = access_cookie_name(secure_cookies)
    return await authenticate_connection(request, authenticator, cookie_name=cookie, dpop=dpop)


def require(*permissions: str) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that authenticates the request and demands every given permission."""
    needed = frozenset(permissions)

    async def dependency(request: Request) -> Principal:
        principal = request.scope.get(PRINCIPAL_KEY)
        if not isinstance(principal, Principal):
            runtime = get_runtime(request)
            principal = await authenticate_request(
                request,
                runtime.authenticator,
                secure_cookies=runtime.settings.secure_cookies,
                dpop=runtime.dpop,
            )
            request.scope[PRINCIPAL_KEY] = principal
        missing = needed - principal.permissions
        if missing:
            raise PermissionDeniedError(missing)
        return principal

    return dependency
