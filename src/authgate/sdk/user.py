"""``httpx.Auth`` for AI agents calling an authgate-protected API.

The agent never handles tokens itself: :class:`AuthgateAuth` logs in (or starts
from a refresh token), attaches ``Authorization: Bearer <access>`` as RFC 6750
s2.1 prescribes, refreshes shortly before the access token expires, and retries a
request once when the API answers 401 (RFC 6750 s3.1 ``invalid_token``: the token
expired or was revoked before the client's clock noticed).

authgate rotates refresh tokens (RFC 9700 s4.14.2): every refresh returns a new
pair and the old refresh token stops working. Two refreshes racing with the same
token would therefore look like token theft and revoke the session, so only one
refresh runs at a time -- a ``threading.Lock`` for :class:`httpx.Client`, an
``anyio.Lock`` for :class:`httpx.AsyncClient` -- and whoever waited on the lock
re-checks the token generation before refreshing again.

Sharing one instance between a sync and an async client works, but the two flows
hold different locks, so a refresh may then run once per flow.

Tokens and passwords are never logged, never put in ``repr`` and never carried by
:class:`AuthgateClientError`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Final

import anyio
import httpx

from authgate.errors import AuthgateError

__all__ = ["AuthgateAuth", "AuthgateClientError"]

_LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1"})
# The token endpoint must not go through a client's own auth (it may be this object).
_NO_AUTH: Final = httpx.Auth()
_TOKEN_STRINGS: Final = ("accessToken", "refreshToken", "sessionId")


class AuthgateClientError(AuthgateError):
    """The authgate server refused to issue tokens, or the client has none left.

    Carries the HTTP ``status_code`` and the server's ``error`` title and
    ``message``; never the token or password that was sent.
    """

    def __init__(self, status_code: int, error: str, message: str | None = None) -> None:
        self.status_code = status_code
        self.error = error
        super().__init__(message or error)

    def __str__(self) -> str:
        return f"{self.status_code} {self.error}: {self.message}"

    @classmethod
    def from_response(cls, response: httpx.Response) -> AuthgateClientError:
        """Build the error from the server's ``{"error", "message"}`` body, if it has one."""
        error, message = response.reason_phrase or "Error", None
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            error = _text(body.get("error")) or error
            message = _text(body.get("message"))
        return cls(response.status_code, error, message)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True, slots=True)
class _Tokens:
    """One immutable snapshot, swapped in a single assignment so threads never see half."""

    generation: int
    access: str | None = None
    refresh: str | None = None
    session_id: str | None = None
    renew_at: float = -math.inf


@dataclass(frozen=True, slots=True)
class _Sent:
    """A token endpoint response and the client time the request left.

    Expiry counts from before the request, so a slow network errs on the early side.
    """

    response: httpx.Response
    started: float


class AuthgateAuth(httpx.Auth):
    """Authenticate httpx requests with authgate access tokens, refreshing as needed.

    Use it as ``httpx.AsyncClient(auth=AuthgateAuth(base_url=..., email=..., password=...))``
    or the same with :class:`httpx.Client`. Token requests go through a separate,
    internal client; pass ``transport``/``async_transport`` or a ready
    ``http_client``/``async_http_client`` to route them (an ASGI app in tests).
    """

    # Retrying after a 401 sends the body a second time, so it is buffered first.
    # httpx reads it only in the default *_auth_flow, which this class overrides.
    requires_request_body = True

    def __init__(
        self,
        *,
        base_url: str,
        email: str | None = None,
        password: str | None = None,
        refresh_token: str | None = None,
        refresh_margin: float = 60.0,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
        allow_insecure_http: bool = False,
    ) -> None:
        _check_credentials(email, password, refresh_token)
        if not math.isfinite(refresh_margin) or refresh_margin < 0:
            raise ValueError("refresh_margin must be a finite number of seconds >= 0")
        self._base_url = _check_base_url(base_url, allow_insecure_http=allow_insecure_http)
        self._login_url = f"{self._base_url}/auth/login"
        self._refresh_url = f"{self._base_url}/auth/refresh"
        self._logout_url = f"{self._base_url}/auth/logout"
        self._email = email
        self._password = password
        self._margin = refresh_margin
        self._clock = clock
        self._tokens = _Tokens(generation=0, refresh=refresh_token)
        self._sync_lock = threading.Lock()
        self._async_lock = anyio.Lock()
        self._transport = transport
        self._async_transport = async_transport
        self._timeout = timeout
        self._client = http_client
        self._async_client = async_http_client
        self._owns_client = http_client is None
        self._owns_async_client = async_http_client is None

    def __repr__(self) -> str:
        # Deliberately no tokens, password or email: reprs end up in logs and tracebacks.
        return f"AuthgateAuth(base_url={self._base_url!r}, session_id={self.session_id!r})"

    @property
    def access_token(self) -> str | None:
        """The current access token, or ``None`` before the first request."""
        return self._tokens.access

    @property
    def refresh_token(self) -> str | None:
        """The current refresh token; it changes on every refresh (rotation)."""
        return self._tokens.refresh

    @property
    def session_id(self) -> str | None:
        """The server-side session these tokens belong to."""
        return self._tokens.session_id

    # -- httpx.Auth -------------------------------------------------------------------

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        request.read()
        tokens = self._tokens
        if self._expiring(tokens):
            tokens = self._sync_renew(seen=tokens, force=False)
        response = yield _authorize(request, tokens)
        if response.status_code == HTTPStatus.UNAUTHORIZED:
            tokens = self._sync_renew(seen=tokens, force=True)
            yield _authorize(request, tokens)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        await request.aread()
        tokens = self._tokens
        if self._expiring(tokens):
            tokens = await self._async_renew(seen=tokens, force=False)
        response = yield _authorize(request, tokens)
        if response.status_code == HTTPStatus.UNAUTHORIZED:
            tokens = await self._async_renew(seen=tokens, force=True)
            yield _authorize(request, tokens)

    # -- logout and cleanup -----------------------------------------------------------

    def logout(self) -> None:
        """End the server-side session and forget the tokens.

        An expiring access token is refreshed first, so the session is really revoked
        rather than the logout refused with 401 and the session left alive.
        """
        with self._sync_lock:
            tokens = self._forget()
            if tokens.refresh is None:
                return
            if self._expiring(tokens):
                sent = self._sync_post(self._refresh_url, {"refreshToken": tokens.refresh})
                if _session_over(sent):
                    return
                tokens = self._parse(sent, tokens)
            response = self._sync_http().post(
                self._logout_url, headers=_bearer(tokens), auth=_NO_AUTH, follow_redirects=False
            )
        _check_logout(response)

    async def alogout(self) -> None:
        """Async :meth:`logout`."""
        async with self._async_lock:
            tokens = self._forget()
            if tokens.refresh is None:
                return
            if self._expiring(tokens):
                body = {"refreshToken": tokens.refresh}
                sent = await self._async_post(self._refresh_url, body)
                if _session_over(sent):
                    return
                tokens = self._parse(sent, tokens)
            response = await self._async_http().post(
                self._logout_url, headers=_bearer(tokens), auth=_NO_AUTH, follow_redirects=False
            )
        _check_logout(response)

    def close(self) -> None:
        """Close the internal token client, if this object created it."""
        if self._owns_client and self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        """Close the internal async token client, if this object created it."""
        if self._owns_async_client and self._async_client is not None:
            await self._async_client.aclose()
            self._async_client = None

    # -- renewal: one in flight, re-checked under the lock ----------------------------

    def _sync_renew(self, *, seen: _Tokens, force: bool) -> _Tokens:
        with self._sync_lock:
            current = self._tokens
            if self._still_good(seen, current, force=force):
                return current
            return self._sync_obtain(current)

    async def _async_renew(self, *, seen: _Tokens, force: bool) -> _Tokens:
        async with self._async_lock:
            current = self._tokens
            if self._still_good(seen, current, force=force):
                return current
            return await self._async_obtain(current)

    def _still_good(self, seen: _Tokens, current: _Tokens, *, force: bool) -> bool:
        """Whether ``current`` can be used without asking the server again.

        A newer generation means another caller refreshed while we waited on the
        lock: use its tokens unless they too are about to expire. ``force`` is set
        after a 401, when the server has already said ``seen`` is no good.
        """
        if current.generation != seen.generation:
            return not self._expiring(current)
        return not force and not self._expiring(current)

    def _sync_obtain(self, current: _Tokens) -> _Tokens:
        """Refresh, falling back to a fresh login once if the refresh token is refused."""
        if current.refresh is not None:
            sent = self._sync_post(self._refresh_url, {"refreshToken": current.refresh})
            if not self._should_login_after(sent.response):
                return self._accept(sent, current)
        sent = self._sync_post(self._login_url, self._login_body())
        return self._accept(sent, current)

    async def _async_obtain(self, current: _Tokens) -> _Tokens:
        """Async :meth:`_sync_obtain`."""
        if current.refresh is not None:
            sent = await self._async_post(self._refresh_url, {"refreshToken": current.refresh})
            if not self._should_login_after(sent.response):
                return self._accept(sent, current)
        sent = await self._async_post(self._login_url, self._login_body())
        return self._accept(sent, current)

    def _should_login_after(self, refresh_response: httpx.Response) -> bool:
        refused = refresh_response.status_code == HTTPStatus.UNAUTHORIZED
        return refused and self._password is not None

    def _login_body(self) -> dict[str, str]:
        if self._email is None or self._password is None:
            # Only reachable after logout() dropped the refresh token of a
            # refresh-token-only client: there is nothing left to authenticate with.
            raise AuthgateClientError(401, "Not authenticated", "No refresh token or credentials")
        return {"email": self._email, "password": self._password}

    def _accept(self, sent: _Sent, previous: _Tokens) -> _Tokens:
        """Store the token pair from a login/refresh response; both tokens always change."""
        self._tokens = tokens = self._parse(sent, previous)
        return tokens

    def _parse(self, sent: _Sent, previous: _Tokens) -> _Tokens:
        if sent.response.status_code != HTTPStatus.OK:
            raise AuthgateClientError.from_response(sent.response)
        body = _token_body(sent.response)
        expires_in = float(body["expiresIn"])
        # Never wait for less than half the lifetime, or short-lived tokens with a
        # larger margin would trigger a refresh before every single request.
        margin = min(self._margin, expires_in / 2)
        return _Tokens(
            generation=previous.generation + 1,
            access=body["accessToken"],
            refresh=body["refreshToken"],
            session_id=body["sessionId"],
            renew_at=sent.started + expires_in - margin,
        )

    def _expiring(self, tokens: _Tokens) -> bool:
        return tokens.access is None or self._clock() >= tokens.renew_at

    def _forget(self) -> _Tokens:
        """Drop the tokens first: whatever logout meets next, they are done with."""
        tokens = self._tokens
        self._tokens = _Tokens(generation=tokens.generation + 1)
        return tokens

    # -- token endpoint I/O -----------------------------------------------------------

    def _sync_post(self, url: str, body: dict[str, str]) -> _Sent:
        started = self._clock()
        client = self._sync_http()
        return _Sent(client.post(url, json=body, auth=_NO_AUTH, follow_redirects=False), started)

    async def _async_post(self, url: str, body: dict[str, str]) -> _Sent:
        started = self._clock()
        client = self._async_http()
        response = await client.post(url, json=body, auth=_NO_AUTH, follow_redirects=False)
        return _Sent(response, started)

    def _sync_http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(transport=self._transport, timeout=self._timeout)
        return self._client

    def _async_http(self) -> httpx.AsyncClient:
        if self._async_client is None:
            transport = self._async_transport
            self._async_client = httpx.AsyncClient(transport=transport, timeout=self._timeout)
        return self._async_client


def _check_credentials(email: str | None, password: str | None, refresh_token: str | None) -> None:
    if (email is None) != (password is None):
        raise ValueError("email and password must be given together")
    if email is None and refresh_token is None:
        raise ValueError("give email and password, or refresh_token")


def _check_base_url(base_url: str, *, allow_insecure_http: bool) -> str:
    """Refuse plain HTTP off loopback: passwords and tokens would cross the network in clear.

    RFC 6750 s5.3 requires TLS for bearer tokens; ``allow_insecure_http`` is the
    explicit escape hatch for private networks.
    """
    url = httpx.URL(base_url)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("base_url must be an absolute http(s) URL")
    if url.scheme == "http" and url.host not in _LOOPBACK_HOSTS and not allow_insecure_http:
        raise ValueError("base_url must use https (or pass allow_insecure_http=True)")
    return base_url.rstrip("/")


def _token_body(response: httpx.Response) -> dict[str, Any]:
    """The login/refresh body, checked for the fields the client relies on."""
    try:
        body = response.json()
    except ValueError as exc:
        raise AuthgateClientError(response.status_code, "Malformed token response") from exc
    if not isinstance(body, dict) or not _has_token_fields(body):
        raise AuthgateClientError(response.status_code, "Malformed token response")
    return body


def _has_token_fields(body: dict[str, Any]) -> bool:
    if not all(isinstance(body.get(name), str) for name in _TOKEN_STRINGS):
        return False
    expires_in = body.get("expiresIn")
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float):
        return False
    return expires_in > 0


def _bearer(tokens: _Tokens) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.access}"}


def _authorize(request: httpx.Request, tokens: _Tokens) -> httpx.Request:
    request.headers["Authorization"] = f"Bearer {tokens.access}"
    return request


def _session_over(sent: _Sent) -> bool:
    """A refused refresh during logout: the session already ended, nothing to revoke."""
    return sent.response.status_code == HTTPStatus.UNAUTHORIZED


def _check_logout(response: httpx.Response) -> None:
    """A 401 means the session was already gone, which is what logout wanted."""
    ok = response.is_success or response.status_code == HTTPStatus.UNAUTHORIZED
    if not ok:
        raise AuthgateClientError.from_response(response)
