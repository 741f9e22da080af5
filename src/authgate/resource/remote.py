"""Verify authgate access tokens in another Python service, offline, through the JWKS.

    verifier = RemoteVerifier(
        jwks_url="https://auth.example.com/.well-known/jwks.json",
        issuer="ai-agent-system", audience="ai-agent-users")
    claims = await verifier.verify(token)

The JWKS is cached; an unknown ``kid`` triggers at most one refetch per
``min_refetch_interval`` (no refetch storm from forged kids). Only asymmetric algorithms
are accepted, each key with its own published ``alg`` (RFC 8725 s3.1), ``typ`` must be
``at+jwt`` (RFC 9068 s2.1), and ``iss``/``aud`` match exactly (RFC 8725 s3.8, s3.9).
For revocation-sensitive routes, ``introspect=True`` also asks authgate (RFC 7662).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from authgate import jsonlimits
from authgate.errors import InvalidSignatureError, MalformedTokenError, RevokedTokenError
from authgate.keys.keyring import ASYMMETRIC_ALGORITHMS
from authgate.resource.jwks import JwksCache
from authgate.tokens.claims import ACCESS_TYP, ClaimsPolicy
from authgate.tokens.strict import read_header, verified_claims

__all__ = ["RemoteVerifier"]


class RemoteVerifier:
    def __init__(
        self,
        *,
        jwks_url: str,
        issuer: str,
        audience: str,
        algorithms: Sequence[str] = ASYMMETRIC_ALGORITHMS,
        leeway: int = 10,
        cache_ttl: float = 300.0,
        min_refetch_interval: float = 30.0,
        introspection_url: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = http or httpx.AsyncClient(timeout=5.0)
        self._algorithms = frozenset(algorithms)
        self._jwks = JwksCache(
            url=jwks_url,
            http=self._http,
            clock=clock,
            algorithms=self._algorithms,
            cache_ttl=cache_ttl,
            min_refetch_interval=min_refetch_interval,
        )
        self._policy = ClaimsPolicy(issuer, audience, "access", leeway)
        self._introspection_url = introspection_url
        self._client_auth = (client_id, client_secret) if client_id and client_secret else None
        self._clock = clock

    async def verify(self, token: str, *, introspect: bool = False) -> dict[str, Any]:
        """The claims of a valid token; raises an ``InvalidTokenError`` subclass otherwise."""
        if len(token) > 16384:
            raise MalformedTokenError()
        # The server's own strict parser: no crit, no duplicate names, no deep nesting.
        header = read_header(token)
        kid = header.get("kid")
        if header.get("typ") != ACCESS_TYP or not isinstance(kid, str):
            raise MalformedTokenError()
        if header["alg"] not in self._algorithms:
            raise MalformedTokenError()
        key = await self._jwks.key(kid)
        if key is None:
            raise InvalidSignatureError()
        claims = verified_claims(token, key, header)
        self._policy.validate(claims, self._clock())
        if introspect and not await self._active(token):
            raise RevokedTokenError()
        return claims

    async def _active(self, token: str) -> bool:
        if self._introspection_url is None or self._client_auth is None:
            raise ValueError("introspection needs introspection_url, client_id, client_secret")
        response = await self._http.post(
            self._introspection_url,
            data={"token": token, "token_type_hint": "access_token"},
            auth=self._client_auth,
        )
        if response.status_code != 200:
            return False
        answer = jsonlimits.loads(response.content)
        return isinstance(answer, dict) and answer.get("active") is True

    async def aclose(self) -> None:
        await self._http.aclose()
