"""The agent SDK: tokens for an agent that works on its own or for a user, for hours.

    auth = AgentAuth(base_url=URL, client_id=ID, client_secret=SECRET)       # on its own
    auth = AgentAuth.delegated(base_url=URL, client_id=ID, client_secret=SECRET,
                               subject_token=user_access_token, scope="use_agent")
    httpx.Client(auth=auth).post(URL + "/api/ai/chat", json={...})

``delegated`` works once the user has consented to this agent (``POST /auth/delegations``
with the user's own token; docs/agents.md); without it the exchange is refused.

Tokens are renewed shortly before expiry and once after a 401, with a single renewal in
flight (sync and async). With ``dpop_key`` every request carries an RFC 9449 proof
(``htm``, ``htu``, ``iat``, ``jti``, and ``ath`` at resources) and a server nonce is
picked up and replayed when asked for (s8, s9).
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey, RSAKey

from authgate.sdk.user import AuthgateClientError

__all__ = ["AgentAuth", "DPoPKey", "aexchange_token", "exchange_token"]

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105


class DPoPKey:
    """The agent's own proof-of-possession key (RFC 9449); the private half stays here."""

    def __init__(self, key: ECKey | OKPKey | RSAKey | None = None, *, alg: str = "ES256") -> None:
        self.key = key or ECKey.generate_key("P-256")
        self.alg = alg
        self._public = self.key.as_dict(private=False)
        self.nonce: str | None = None

    @property
    def thumbprint(self) -> str:
        return self.key.thumbprint()

    def proof(self, method: str, url: str, access_token: str | None = None) -> str:
        parts = urlsplit(url)
        claims: dict[str, Any] = {
            "htm": method.upper(),
            "htu": urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")),
            "iat": int(time.time()),
            "jti": str(uuid.uuid4()),
        }
        if access_token is not None:
            digest = hashlib.sha256(access_token.encode("ascii")).digest()
            claims["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        if self.nonce is not None:
            claims["nonce"] = self.nonce
        header = {"typ": "dpop+jwt", "alg": self.alg, "jwk": self._public}
        return jwt.encode(header, claims, self.key, algorithms=[self.alg])

    def learn_nonce(self, response: httpx.Response) -> bool:
        """Keep a ``DPoP-Nonce`` the server sent; True when it asked us to use it."""
        nonce = response.headers.get("dpop-nonce")
        if nonce:
            self.nonce = nonce
        challenge = response.headers.get("www-authenticate", "") + response.text[:200]
        return bool(nonce) and "use_dpop_nonce" in challenge


@dataclass(frozen=True, slots=True)
class _Grant:
    generation: int
    access: str | None = None
    refresh: str | None = None
    renew_at: float = -1.0


def _grant_from(body: dict[str, Any], generation: int, clock: float, margin: float) -> _Grant:
    if not isinstance(body.get("access_token"), str):
        raise AuthgateClientError(502, "Bad token response", "The token endpoint sent no token")
    lifetime = float(body.get("expires_in", 60))
    return _Grant(
        generation=generation,
        access=body["access_token"],
        refresh=body.get("refresh_token"),
        renew_at=clock + lifetime - min(margin, lifetime / 2),
    )


def _token_error(response: httpx.Response) -> AuthgateClientError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    error = body.get("error") if isinstance(body, dict) else None
    detail = body.get("error_description") if isinstance(body, dict) else None
    return AuthgateClientError(response.status_code, str(error or "token_error"), detail)


class AgentAuth(httpx.Auth):
    """httpx authentication for an agent; see the module docstring."""

    requires_request_body = True

    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        client_secret: str,
        scope: str | None = None,
        refresh_token: str | None = None,
        dpop_key: DPoPKey | None = None,
        refresh_margin: float = 60.0,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._token_url = base_url.rstrip("/") + "/oauth2/token"
        self._credentials = (client_id, client_secret)
        self._scope = scope
        self._dpop = dpop_key
        self._margin = refresh_margin
        self._clock = clock
        self._transport = transport
        self._async_transport = async_transport
        self._grant = _Grant(generation=0, refresh=refresh_token)
        self._thread_lock = threading.Lock()
        self._async_lock = anyio.Lock()

    @classmethod
    def delegated(
        cls,
        *,
        base_url: str,
        client_id: str,
        client_secret: str,
        subject_token: str,
        scope: str | None = None,
        requested_lifetime: int | None = None,
        dpop_key: DPoPKey | None = None,
        transport: httpx.BaseTransport | None = None,
        **kwargs: Any,
    ) -> AgentAuth:
        """Exchange a user's access token for a delegation this agent renews on its own."""
        body = exchange_token(
            base_url=base_url,
            client_id=client_id,
            client_secret=client_secret,
            subject_token=subject_token,
            scope=scope,
            requested_lifetime=requested_lifetime,
            dpop_key=dpop_key,
            transport=transport,
        )
        return cls.from_token_response(
            body,
            base_url=base_url,
            client_id=client_id,
            client_secret=client_secret,
            dpop_key=dpop_key,
            transport=transport,
            **kwargs,
        )

    @classmethod
    def from_token_response(cls, body: dict[str, Any], **kwargs: Any) -> AgentAuth:
        """Start from a token response already in hand (e.g. from ``aexchange_token``)."""
        auth = cls(**kwargs)
        auth._grant = _grant_from(body, 1, auth._clock(), auth._margin)
        return auth

    def __repr__(self) -> str:
        return f"AgentAuth(token_url={self._token_url!r}, client_id={self._credentials[0]!r})"

    @property
    def access_token(self) -> str | None:
        return self._grant.access

    @property
    def refresh_token(self) -> str | None:
        return self._grant.refresh

    # httpx flows

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        request.read()
        grant = self._sync_renew(self._grant, force=False)
        response = yield self._authorize(request, grant)
        if response.status_code == 401:
            response.read()
            retry_nonce = self._dpop is not None and self._dpop.learn_nonce(response)
            grant = grant if retry_nonce else self._sync_renew(grant, force=True)
            yield self._authorize(request, grant)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        await request.aread()
        grant = await self._async_renew(self._grant, force=False)
        response = yield self._authorize(request, grant)
        if response.status_code == 401:
            await response.aread()
            retry_nonce = self._dpop is not None and self._dpop.learn_nonce(response)
            grant = grant if retry_nonce else await self._async_renew(grant, force=True)
            yield self._authorize(request, grant)

    def _authorize(self, request: httpx.Request, grant: _Grant) -> httpx.Request:
        assert grant.access is not None
        if self._dpop is None:
            request.headers["Authorization"] = f"Bearer {grant.access}"
            return request
        request.headers["Authorization"] = f"DPoP {grant.access}"
        request.headers["DPoP"] = self._dpop.proof(request.method, str(request.url), grant.access)
        return request

    # Renewal: one in flight; whoever waited re-checks the generation first.

    def _current(self, seen: _Grant, *, force: bool) -> _Grant | None:
        grant = self._grant
        if grant.generation != seen.generation:
            return grant  # someone renewed while we waited
        if not force and grant.access is not None and self._clock() < grant.renew_at:
            return grant
        return None

    def _sync_renew(self, seen: _Grant, *, force: bool) -> _Grant:
        if (fresh := self._current(seen, force=force)) is not None:
            return fresh
        with self._thread_lock:
            if (fresh := self._current(seen, force=force)) is not None:
                return fresh
            with httpx.Client(transport=self._transport) as http:
                response = self._post(
                    lambda data, headers: http.post(
                        self._token_url, data=data, headers=headers, auth=self._credentials
                    )
                )
            return self._accept(response)

    async def _async_renew(self, seen: _Grant, *, force: bool) -> _Grant:
        if (fresh := self._current(seen, force=force)) is not None:
            return fresh
        async with self._async_lock:
            if (fresh := self._current(seen, force=force)) is not None:
                return fresh
            async with httpx.AsyncClient(transport=self._async_transport) as http:
                data, headers = self._token_request()
                response = await http.post(
                    self._token_url, data=data, headers=headers, auth=self._credentials
                )
                if self._needs_nonce_retry(response):
                    data, headers = self._token_request()
                    response = await http.post(
                        self._token_url, data=data, headers=headers, auth=self._credentials
                    )
            return self._accept(response)

    def _post(
        self, send: Callable[[dict[str, str], dict[str, str]], httpx.Response]
    ) -> httpx.Response:
        response = send(*self._token_request())
        if self._needs_nonce_retry(response):
            response = send(*self._token_request())
        return response

    def _needs_nonce_retry(self, response: httpx.Response) -> bool:
        return (
            self._dpop is not None
            and response.status_code in (400, 401)
            and (self._dpop.learn_nonce(response))
        )

    def _token_request(self) -> tuple[dict[str, str], dict[str, str]]:
        refresh = self._grant.refresh
        if refresh is not None:
            data = {"grant_type": "refresh_token", "refresh_token": refresh}
        else:
            data = {"grant_type": "client_credentials"}
            if self._scope:
                data["scope"] = self._scope
        headers = {}
        if self._dpop is not None:
            headers["DPoP"] = self._dpop.proof("POST", self._token_url)
        return data, headers

    def _accept(self, response: httpx.Response) -> _Grant:
        if response.status_code != 200:
            raise _token_error(response)
        grant = _grant_from(
            response.json(), self._grant.generation + 1, self._clock(), self._margin
        )
        if grant.refresh is None and self._grant.refresh is not None:
            grant = _Grant(grant.generation, grant.access, self._grant.refresh, grant.renew_at)
        self._grant = grant
        return grant


def _exchange_form(
    subject_token: str, scope: str | None, requested_lifetime: int | None
) -> dict[str, str]:
    data = {
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": subject_token,
        "subject_token_type": ACCESS_TOKEN_TYPE,
    }
    if scope:
        data["scope"] = scope
    if requested_lifetime is not None:
        data["requested_lifetime"] = str(requested_lifetime)
    return data


def _exchange_result(response: httpx.Response) -> dict[str, Any]:
    if response.status_code != 200:
        raise _token_error(response)
    body: dict[str, Any] = response.json()
    return body


def _wants_nonce_retry(dpop_key: DPoPKey | None, response: httpx.Response) -> bool:
    return (
        dpop_key is not None
        and response.status_code in (400, 401)
        and dpop_key.learn_nonce(response)
    )


def exchange_token(
    *,
    base_url: str,
    client_id: str,
    client_secret: str,
    subject_token: str,
    scope: str | None = None,
    requested_lifetime: int | None = None,
    dpop_key: DPoPKey | None = None,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, Any]:
    """RFC 8693 token exchange: the raw token response (access and refresh tokens)."""
    token_url = base_url.rstrip("/") + "/oauth2/token"
    data = _exchange_form(subject_token, scope, requested_lifetime)
    with httpx.Client(transport=transport) as http:
        for _attempt in range(2):
            headers = {"DPoP": dpop_key.proof("POST", token_url)} if dpop_key else {}
            response = http.post(
                token_url, data=data, headers=headers, auth=(client_id, client_secret)
            )
            if not _wants_nonce_retry(dpop_key, response):
                break
    return _exchange_result(response)


async def aexchange_token(
    *,
    base_url: str,
    client_id: str,
    client_secret: str,
    subject_token: str,
    scope: str | None = None,
    requested_lifetime: int | None = None,
    dpop_key: DPoPKey | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> dict[str, Any]:
    """The async twin of :func:`exchange_token`."""
    token_url = base_url.rstrip("/") + "/oauth2/token"
    data = _exchange_form(subject_token, scope, requested_lifetime)
    async with httpx.AsyncClient(transport=transport) as http:
        for _attempt in range(2):
            headers = {"DPoP": dpop_key.proof("POST", token_url)} if dpop_key else {}
            response = await http.post(
                token_url, data=data, headers=headers, auth=(client_id, client_secret)
            )
            if not _wants_nonce_retry(dpop_key, response):
                break
    return _exchange_result(response)
