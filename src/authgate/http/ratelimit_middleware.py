"""The rate-limit middleware: 429 with ``Retry-After`` and ``RateLimit-*`` headers.

Login and OAuth count failed attempts only, by reservation: the attempt is counted
before the handler runs (so concurrent guesses cannot all pass a check that nothing has
counted yet) and given back when the answer is not a failure. Every other limited group
counts each request; ``/api`` counts per principal when the request carries a valid
access token (one agent's loop must not lock out other users behind the same IP), and
per client IP otherwise. The 429 body is ``{"error": "Too many requests", "message": ...,
"retryAfter": <seconds>}``; it is the same whether or not the account exists.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authgate import jsonlimits
from authgate.accounts.users import normalise_email
from authgate.audit import AuditTrail
from authgate.errors import AuthgateError
from authgate.http.credentials import client_ip, device_info, extract_credential, plain_bearer
from authgate.http.dependencies import PRINCIPAL_KEY
from authgate.http.error_responses import unavailable_response
from authgate.principal import Principal
from authgate.ratelimit import Decision, Group, RateLimits, Reservation, StoreUnavailable
from authgate.sessions.authenticator import Authenticator

__all__ = ["FAILED_ATTEMPT", "RateLimitMiddleware", "group_for"]

# A failed attempt is a client error answer; 429 itself is not another attempt.
_FAILURE = range(400, 500)
_AUDIT_EVERY = 60  # seconds: at most one ratelimit.blocked row per client and group
_MAX_EMAIL = 320

OnBlocked = Callable[[str], None]
#: A handler sets ``scope[FAILED_ATTEMPT] = True`` when a failure is not a 4xx (a
#: browser OAuth failure redirects to the error page); it counts as a failed attempt.
FAILED_ATTEMPT = "authgate.failed_attempt"


def group_for(method: str, path: str) -> Group | None:
    if method == "OPTIONS":  # CORS preflight carries no credentials
        return None
    if path == "/auth/login":
        return "login"
    if path.startswith("/auth/oauth/"):
        return "oauth"
    if path == "/auth/refresh":
        return "refresh"
    if path == "/auth/register":
        return "register"
    if path == "/api" or path.startswith("/api/"):
        return "api"
    return None


class RateLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        limits: RateLimits,
        audit: AuditTrail | None = None,
        on_blocked: OnBlocked | None = None,
        authenticator: Authenticator | None = None,
        cookie_name: str = "access_token",
        share_principal: bool = False,
    ) -> None:
        self.app = app
        self.limits = limits
        self.audit = audit
        self.on_blocked = on_blocked
        # Without an authenticator, /api is limited per IP only.
        self.authenticator = authenticator
        self.cookie_name = cookie_name
        # Leave the Principal it verified for require(): only when ``authenticator`` is
        # the one the routes use (runtime.authenticator, as install_hardening passes).
        self.share_principal = share_principal and authenticator is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        group = (
            group_for(scope.get("method", ""), scope["path"]) if scope["type"] == "http" else None
        )
        if group is None:
            await self.app(scope, receive, send)
            return
        try:
            if group in ("login", "oauth"):
                await self._failures_only(group, scope, receive, send)
            else:
                await self._every_request(group, scope, receive, send)
        except StoreUnavailable:
            # Fail closed with the one 503 every client knows (body and Retry-After).
            await unavailable_response()(scope, receive, send)

    async def _every_request(
        self, group: Group, scope: Scope, receive: Receive, send: Send
    ) -> None:
        principal = self._plain_bearer(scope) if group == "api" else None
        if principal is not None:
            key = ("principal", principal.id)
        else:
            conn = HTTPConnection(scope)
            principal_id = self._principal_id(conn) if group == "api" else None
            key = ("principal", principal_id) if principal_id else ("ip", client_ip(conn))
        decision = await self.limits.hit(group, *key)
        if not decision.allowed:
            await self._block(group, decision, scope, receive, send)
            return
        if principal is not None and self.share_principal:
            # What require() and AuthMiddleware would find for this request: the same
            # token, verified the same way (below), so the route does not verify it again.
            scope[PRINCIPAL_KEY] = principal
        await self.app(scope, receive, _with_headers(send, decision))

    def _plain_bearer(self, scope: Scope) -> Principal | None:
        """The common case without building a connection: one ``Bearer`` header, nothing else.

        The Principal ``authenticate_connection`` would give for this request: no query
        string (a token there is refused), no cookie (a second credential is refused), one
        ``Authorization: Bearer`` header, no device check and a token not bound to a DPoP
        key (its proof is checked by the route). Anything else returns None and takes the
        general path, which keys by principal id only.
        """
        authenticator = self.authenticator
        if authenticator is None or authenticator.needs_device:
            return None
        token = plain_bearer(scope)
        if token is None:
            return None
        try:
            principal = authenticator.authenticate(token, report=False)
        except AuthgateError:
            return None
        return principal if principal.jkt is None else None

    def _principal_id(self, conn: HTTPConnection) -> str | None:
        """The verified principal's id, or None: an invalid token is limited by IP."""
        authenticator = self.authenticator
        if authenticator is None:
            return None
        try:
            credential = extract_credential(conn, cookie_name=self.cookie_name)
            if credential is None:
                return None
            device = device_info(conn) if authenticator.needs_device else None
            # Cached after the first verification, and the route verifies it again.
            return authenticator.authenticate(credential.token, device, report=False).id
        except AuthgateError:
            return None

    async def _failures_only(
        self, group: Group, scope: Scope, receive: Receive, send: Send
    ) -> None:
        ip = client_ip(HTTPConnection(scope))
        email = ""
        if group == "login":
            body, receive = await _buffer(receive)
            email = _email_of(body)
            reservation = await self.limits.reserve_login(ip, email)
        else:
            reservation = await self.limits.reserve(group, ip)
        decision = reservation.decision
        if not decision.allowed:
            await self._block(group, decision, scope, receive, send)
            return

        async def settling_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = message["status"]
                if not (status in _FAILURE or scope.get(FAILED_ATTEMPT) is True):
                    await self._settle(group, reservation, status, ip, email)
                MutableHeaders(scope=message).update(decision.headers)
            await send(message)

        # An exception (no answer) keeps the reservation: fail closed.
        await self.app(scope, receive, settling_send)

    async def _settle(
        self, group: Group, reservation: Reservation, status: int, ip: str, email: str
    ) -> None:
        """Not a failed attempt: give the reservation back; a sign-in marks the client."""
        await self.limits.release(reservation)
        if group == "login" and 200 <= status < 300:
            await self.limits.remember_client(ip, email)

    async def _block(
        self, group: Group, decision: Decision, scope: Scope, receive: Receive, send: Send
    ) -> None:
        conn = HTTPConnection(scope)
        if self.on_blocked is not None:
            self.on_blocked(group)
        if self.audit is not None and await self.limits.first_block_in(
            _AUDIT_EVERY, group, client_ip(conn)
        ):
            await self.audit.record(
                "ratelimit.blocked", device=device_info(conn), group=group, path=scope["path"]
            )
        response = JSONResponse(
            {
                "error": "Too many requests",
                "message": "Too many requests; retry later",
                "retryAfter": decision.reset_after,
            },
            status_code=429,
            headers={"Retry-After": str(decision.reset_after), **decision.headers},
        )
        await response(scope, receive, send)


_RATELIMIT_NAMES = (b"ratelimit-limit", b"ratelimit-remaining", b"ratelimit-reset")


def _with_headers(send: Send, decision: Decision) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            if any(name.lower() in _RATELIMIT_NAMES for name, _ in headers):
                MutableHeaders(raw=headers).update(decision.headers)  # replace the route's
            else:
                headers += (
                    (b"ratelimit-limit", str(decision.limit).encode()),
                    (b"ratelimit-remaining", str(decision.remaining).encode()),
                    (b"ratelimit-reset", str(decision.reset_after).encode()),
                )
            message["headers"] = headers
        await send(message)

    return wrapped


async def _buffer(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole body (already bounded by the body-size limit) and replay it."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"", receive
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return body, replay


def _email_of(body: bytes) -> str:
    try:
        data = jsonlimits.loads(body)
    except (ValueError, UnicodeDecodeError):
        return ""
    email = data.get("email") if isinstance(data, dict) else None
    return normalise_email(email)[:_MAX_EMAIL] if isinstance(email, str) else ""
