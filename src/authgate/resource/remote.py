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

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

from authgate import jsonlimits
from authgate.errors import InvalidSignatureError, MalformedTokenError, RevokedTokenError
from authgate.keys.keyring import ASYMMETRIC_ALGORITHMS
from authgate.tokens.claims import ACCESS_TYP, ClaimsPolicy

__all__ = ["RemoteVerifier"]

logger = logging.getLogger("authgate.resource.remote")


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
        unknown = set(algorithms) - set(ASYMMETRIC_ALGORITHMS)
        if unknown:
            raise ValueError(f"only asymmetric algorithms can be verified offline: {unknown}")
        self._jwks_url = jwks_url
        self._algorithms = frozenset(algorithms)
        self._policy = ClaimsPolicy(issuer, audience, "access", leeway)
        self._cache_ttl = cache_ttl
        self._min_refetch = min_refetch_interval
        self._introspection_url = introspection_url
        self._client_auth = (client_id, client_secret) if client_id and client_secret else None
        self._http = http or httpx.AsyncClient(timeout=5.0)
        self._clock = clock
        self._keys: dict[str, tuple[str, Any]] = {}
        self._fetched_at = -float("inf")
        self._lock = anyio.Lock()

    async def verify(self, token: str, *, introspect: bool = False) -> dict[str, Any]:
        """The claims of a valid token; raises an ``InvalidTokenError`` subclass otherwise."""
        header = _header(token)
        alg, key = await self._key_for(header)
        try:
            decoded = jwt.decode(token, key, algorithms=[alg])
        except JoseError as exc:
            raise InvalidSignatureError() from exc
        claims = dict(decoded.claims)
        self._policy.validate(claims, self._clock())
        if introspect and not await self._active(token):
            raise RevokedTokenError()
        return claims

    async def _key_for(self, header: dict[str, Any]) -> tuple[str, Any]:
        kid, alg = header.get("kid"), header.get("alg")
        if (
            header.get("typ") != ACCESS_TYP
            or not isinstance(kid, str)
            or alg not in self._algorithms
        ):
            raise MalformedTokenError()
        entry = self._keys.get(kid)
        if entry is None or self._clock() - self._fetched_at > self._cache_ttl:
            await self._refresh(force=entry is None)
            entry = self._keys.get(kid)
        if entry is None or entry[0] != alg:
            # Unknown kid, or a header naming another algorithm than the key's own.
            raise InvalidSignatureError()
        return entry

    async def _refresh(self, *, force: bool) -> None:
        async with self._lock:
            since = self._clock() - self._fetched_at
            # Another caller just fetched, or (unforced) the cache is still fresh.
            if since < self._min_refetch or (not force and since <= self._cache_ttl):
                return
            # Counted from the attempt: a failing endpoint is not retried on every request.
            self._fetched_at = self._clock()
            try:
                response = await self._http.get(self._jwks_url)
                response.raise_for_status()
                self._keys = _index(jsonlimits.loads(response.content))
            except (httpx.HTTPError, JoseError, ValueError, TypeError, AttributeError, KeyError):
                # Keep the keys we have: their tokens still verify, unknown kids are refused.
                logger.warning("could not fetch the JWKS from %s", self._jwks_url, exc_info=True)

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


def _header(token: str) -> dict[str, Any]:
    if len(token) > 16384 or token.count(".") != 2:
        raise MalformedTokenError()
    try:
        # Bounded before joserfc parses header or payload: its parser recurses per level.
        jsonlimits.check_compact_jws(token)
        return dict(extract_compact(token.encode()).protected)
    except (JoseError, ValueError) as exc:
        raise MalformedTokenError() from exc


def _index(document: Any) -> dict[str, tuple[str, Any]]:
    """kid -> (alg, key) for each published asymmetric signing key."""
    keys: dict[str, tuple[str, Any]] = {}
    for jwk in document.get("keys", []) if isinstance(document, dict) else []:
        alg, kid = jwk.get("alg"), jwk.get("kid")
        if alg in ASYMMETRIC_ALGORITHMS and isinstance(kid, str) and "d" not in jwk:
            keys[kid] = (alg, KeySet.import_key_set({"keys": [jwk]}).keys[0])
    return keys
