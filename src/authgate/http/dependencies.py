"""FastAPI dependencies: ``require("use_agent")`` gives a handler the caller's Principal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

from fastapi import Request

from authgate.agents.dpop import DPoPVerifier
from authgate.errors import DelegationPolicyError, PermissionDeniedError, StepUpRequiredError
from authgate.http.credentials import access_cookie_name
from authgate.http.sender import authenticate_connection
from authgate.principal import Principal
from authgate.runtime import Runtime
from authgate.sessions.authenticator import Authenticator

__all__ = [
    "PRINCIPAL_KEY",
    "authenticate_request",
    "check_authentication",
    "get_runtime",
    "require",
]

#: Where the middleware leaves the principal in the ASGI scope.
PRINCIPAL_KEY = "authgate.principal"


async def get_runtime(request: Request) -> Runtime:
    """The app's Runtime, as a dependency: ``async`` so that FastAPI calls it in the event
    loop (a plain ``def`` dependency is sent to a worker thread on every request)."""
    return _runtime(request)


def _runtime(request: Request) -> Runtime:
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


Policy = Literal["allow", "require", "forbid"]


def check_authentication(principal: Principal, now: float, mfa: bool, max_age: int | None) -> None:
    """RFC 9470 s3: refuse a token whose authentication is too weak or too old."""
    if mfa and principal.acr != "aal2":
        raise StepUpRequiredError(max_age)
    if max_age is not None and (principal.auth_time is None or now - principal.auth_time > max_age):
        raise StepUpRequiredError(max_age)


def require(
    *permissions: str,
    delegation: Policy = "forbid",
    agents: Literal["allow", "forbid"] = "forbid",
    mfa: bool = False,
    max_age: int | None = None,
) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that authenticates the request and demands every given permission.

    By default only a user's own token passes: a delegated token (an agent acting for
    the user, RFC 8693 ``act``) and an agent's own token (client credentials) get 403,
    so a route that serves agents says so. ``delegation="allow"`` accepts delegated
    tokens, ``"require"`` accepts only them; ``agents="allow"`` accepts agents on
    their own. ``mfa=True`` demands a second factor (``acr`` aal2); ``max_age`` that
    the person authenticated at most that many seconds ago. Either refusal is RFC 9470's
    401 ``insufficient_user_authentication``, so the client can step up and retry.
    """
    needed = frozenset(permissions)
    if delegation not in ("allow", "require", "forbid"):
        raise ValueError("delegation must be 'allow', 'require' or 'forbid'")
    if agents not in ("allow", "forbid"):
        raise ValueError("agents must be 'allow' or 'forbid'")

    async def dependency(request: Request) -> Principal:
        principal = request.scope.get(PRINCIPAL_KEY)
        if not isinstance(principal, Principal):
            runtime = _runtime(request)
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
        _check_caller(principal, delegation, agents)
        if mfa or max_age is not None:
            check_authentication(principal, _runtime(request).clock(), mfa, max_age)
        return principal

    return dependency


def _check_caller(principal: Principal, delegation: Policy, agents: str) -> None:
    if principal.is_delegated:
        if delegation == "forbid":
            raise DelegationPolicyError("This action is for the user, not an agent acting for them")
    elif delegation == "require":
        raise DelegationPolicyError("This action needs an agent acting for a user")
    elif principal.is_agent and agents == "forbid":
        raise DelegationPolicyError("This action is for users, not agents")
